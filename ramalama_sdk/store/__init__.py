"""The models in ramalama's store: names, pulls and their progress, listing, inspection."""
