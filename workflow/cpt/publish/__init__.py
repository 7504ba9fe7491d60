"""Publishing checkpoints to the Hugging Face hub as the run goes (login node):
plan (what to upload, pure), card (the model card), hub (uploads, retries, errors)."""
