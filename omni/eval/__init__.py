"""Evaluation on held-out data, every figure beside a baseline and the untrained model.

`omni.eval.run.evaluate_bundle` (CLI: launch/eval.py) writes report.json and report.md. Pieces:
metrics (token-F1, WER, retrieval), motion (direction from frames), features (fixed image features),
heldout (held-out sets from the corpus), heldout_loss (loss per task direction), generate, directions,
cycle (Telephone Game), figures and report. See docs/eval.md.
"""
