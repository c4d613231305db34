"""What people read: the leaderboard, model and data cards, the benchmark report, the codebook and
Label Studio config. Markdown and HTML are laid out by the Jinja2 templates in ``templates/``
(``render.py``); the modules here compute what they show."""
