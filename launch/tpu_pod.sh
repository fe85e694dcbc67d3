#!/usr/bin/env bash
# Train on every worker of a Cloud TPU VM pod slice: one launch/train.py process per worker host.
#
#   launch/tpu_pod.sh --tpu NAME --zone ZONE [--project P] [--repo DIR] [--python PATH] [--dry-run] \
#       [--entry train|train_tokenizer|tokenize_corpus] -- --config configs/base.py run_dir=... [key=value ...]
#
# --entry picks the launch/ script every worker runs (default train): the tokenizers train and the
# corpus is tokenized on the pod the same way (e.g. --entry train_tokenizer -- --modality image ...).
# Every worker must hold the repository at --repo (default: this checkout's path) with its venv, and
# run_dir must be a directory all workers share (NFS/Filestore, or a gcsfuse-mounted bucket): orbax
# writes each host's shards of a checkpoint there. OMNI_DISTRIBUTED=1 makes train.py call
# jax.distributed.initialize(), which finds the other workers by itself on TPU VMs. Re-running the same
# command resumes from the latest checkpoint; on preemption every worker saves at one agreed step.
# --dry-run prints the gcloud command instead of running it.
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

TPU="" ZONE="" PROJECT="" DRY_RUN="${DRY_RUN:-0}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="" ENTRY="train"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tpu) TPU="$2"; shift 2 ;;
    --zone) ZONE="$2"; shift 2 ;;
    --project) PROJECT="$2"; shift 2 ;;
    --repo) REPO="$2"; shift 2 ;;
    --python) PYTHON="$2"; shift 2 ;;
    --entry) ENTRY="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    *) echo "tpu_pod.sh: unknown option $1 (train.py arguments go after --)" >&2; usage ;;
  esac
done
[[ -n "$TPU" && -n "$ZONE" ]] || { echo "tpu_pod.sh: --tpu and --zone are required" >&2; usage; }
[[ $# -gt 0 ]] || { echo "tpu_pod.sh: give train.py arguments after --, e.g. -- --config configs/base.py" >&2; usage; }
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
case "$ENTRY" in
  train|train_tokenizer|tokenize_corpus) ;;
  *) echo "tpu_pod.sh: --entry must be train, train_tokenizer or tokenize_corpus, got '$ENTRY'" >&2; exit 2 ;;
esac

REMOTE="cd $(printf '%q' "$REPO") && OMNI_DISTRIBUTED=1 $(printf '%q' "$PYTHON") launch/$ENTRY.py --no-progress"
REMOTE+=" $(printf '%q ' "$@")"
CMD=(gcloud compute tpus tpu-vm ssh "$TPU" --zone "$ZONE")
[[ -n "$PROJECT" ]] && CMD+=(--project "$PROJECT")
CMD+=(--worker=all --command "$REMOTE")

if [[ "$DRY_RUN" == "1" ]]; then
  printf '%q ' "${CMD[@]:0:${#CMD[@]}-1}"; printf "'%s'\n" "$REMOTE"
  exit 0
fi
exec "${CMD[@]}"
