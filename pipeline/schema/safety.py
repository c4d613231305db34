"""Guards for a sensitive domain: the project's own text must stay non-explicit.

Synthetic and example text may show sexualisation only the way child-protection guidance
describes its indicators (remarks on maturity or looks, questions about relationships or
being alone, requests for photos or webcam). This pattern lists vocabulary that has no
place in such text, in English and French; the schema test and the grammar check use it.
"""

from __future__ import annotations

import re

EXPLICIT_VOCABULARY = re.compile(
    r"\b(naked|nude|nudes|nudity|porn\w*|sexy|undress\w*|underwear|lingerie|breasts?|genital\w*|"
    r"orgasm\w*|horny|nue?s?|nudité|seins?|porno\w*|déshabill\w*|sous-vêtements?|lingerie|sexe|"
    r"sexuel\w*|excitée?)\b",
    re.IGNORECASE,
)


def explicit_terms(text: str) -> list[str]:
    """The explicit words found in ``text`` (empty when the text is acceptable)."""
    return [m.group(0) for m in EXPLICIT_VOCABULARY.finditer(text)]
