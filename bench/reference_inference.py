"""The chapter's inference: `classify_review` called once per message (runs in .venv-bench).

GPT-2 124M shapes with random weights (`torch.manual_seed(123)`, as the training reference),
`out_head = Linear(768, 2)`, eval mode, CPU; each message goes through the `llms-from-scratch`
package's own `ch06.classify_review(text, model, tokenizer, device, max_length=120)`, as the
chapter calls it. Messages come one per line from `--messages`; the first `--limit` are used.

The last line on stdout is one JSON object: count, total seconds, per-call latencies (p50, p99,
mean, in ms), the predicted labels, and versions.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_pipeline import find_ranks_file, make_gpt2_encoding  # noqa: E402


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", required=True, help="text file, one message per line")
    p.add_argument("--limit", type=int, default=0, help="first N messages (0: all)")
    p.add_argument("--max-length", type=int, default=120, help="the chapter's train max_length")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--ranks", help="r50k_base.tiktoken (default: found in the cargo registry)")
    args = p.parse_args()

    import torch
    import tiktoken
    from llms_from_scratch import ch06
    from llms_from_scratch.ch04 import GPTModel

    if args.threads:
        torch.set_num_threads(args.threads)
    make_gpt2_encoding(find_ranks_file(args.ranks))
    tokenizer = tiktoken.get_encoding("gpt2")
    texts = Path(args.messages).read_text(encoding="utf-8").split("\n")
    texts = [t for t in texts if t] if texts and texts[-1] == "" else texts
    if args.limit:
        texts = texts[: args.limit]

    config = {"vocab_size": 50257, "context_length": 1024, "drop_rate": 0.0, "qkv_bias": True,
              "emb_dim": 768, "n_layers": 12, "n_heads": 12}
    torch.manual_seed(123)
    model = GPTModel(config)
    torch.manual_seed(123)
    model.out_head = torch.nn.Linear(in_features=768, out_features=2)
    model.eval()
    device = torch.device("cpu")

    latencies, labels = [], []
    start = time.perf_counter()
    for text in texts:
        t0 = time.perf_counter()
        labels.append(ch06.classify_review(text, model, tokenizer, device, max_length=args.max_length))
        latencies.append(1000 * (time.perf_counter() - t0))
    total = time.perf_counter() - start
    ordered = sorted(latencies)
    print(json.dumps({
        "count": len(texts), "total_seconds": total,
        "p50_ms": percentile(ordered, 50), "p99_ms": percentile(ordered, 99),
        "mean_ms": statistics.fmean(latencies) if latencies else None,
        "labels": labels, "threads": torch.get_num_threads(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
