"""`make demo`: the main job end to end (corpus -> tokenizers -> tokens -> train -> export -> sample -> eval)."""
import sys

if __name__ == "__main__":
    print("make demo: the end-to-end pipeline is not assembled yet (see the open issue "
          "'The main job end to end'); nothing was run.", file=sys.stderr)
    sys.exit(1)
