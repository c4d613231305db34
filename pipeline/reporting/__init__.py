"""What people read: the leaderboard, model and data cards, the codebook and Label Studio config."""
