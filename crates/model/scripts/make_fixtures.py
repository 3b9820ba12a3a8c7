"""Writes GPT-2 parity fixtures for the spam-model crate.

Run through make_fixtures.sh, which prepares the virtual environment (torch 2.13.0,
tensorflow-cpu, transformers, safetensors, llms-from-scratch, numpy).

One set of random GPT-2 weights is written three ways, each by the library that owns the
format, plus the logits the reference implementations compute from those files:

  openai/       model.ckpt.{index,data-00000-of-00001}, checkpoint, hparams.json, written by
                TensorFlow's own Saver with OpenAI's variable names and shapes
                (model/wte, model/h0/attn/c_attn/w of shape [1, e, 3e], ...)
  hf/           model.safetensors + config.json from transformers' save_pretrained
                (keys with the `transformer.` prefix, no lm_head: tied)
  hub/          model.safetensors in the hub's layout: no prefix, with the causal-mask buffers
                h.N.attn.bias [1, 1, n_ctx, n_ctx], no lm_head; config.json beside it
  expected.json the configuration, input ids, and
                - chapter_logits: llms_from_scratch.ch04.GPTModel after
                  ch05.load_weights_into_gpt(ch05.load_gpt2_params_from_tf_ckpt(openai/...))
                - hf_logits: transformers GPT2LMHeadModel.from_pretrained(hf/)
                - greedy: the chapter's ch05.generate (greedy) from a prompt, with the
                  top-10 ids and logits of the last position at every step

Modes:
  small (default)  a tiny config (vocab 128, context 24, width 32, 4 heads, 2 layers) into
                   crates/model/tests/fixtures/tiny (committed, ~0.5 MB)
  full             GPT-2 124M shapes into models/parity-124m (git-ignored) for the manual
                   full-size check (prompt "Every effort moves you" = 6109 3626 6100 345)
"""

import argparse
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(CRATE))

SMALL = dict(n_vocab=128, n_ctx=24, n_embd=32, n_head=4, n_layer=2)
FULL = dict(n_vocab=50257, n_ctx=1024, n_embd=768, n_head=12, n_layer=12)


def random_params(h, seed, full):
    """OpenAI-named float32 arrays in OpenAI shapes.

    GPT-2-like scales; the token embedding and the norms are livelier than a fresh init so
    that the logits, and their top-10, are well separated.
    """
    rng = np.random.default_rng(seed)
    e, L, V, C = h["n_embd"], h["n_layer"], h["n_vocab"], h["n_ctx"]

    def normal(shape, std):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)

    if full:
        # With GPT-2's own 0.02 the random model just repeats its last token; at 0.05 the
        # blocks matter and greedy decoding wanders through the vocabulary.
        w_std = proj_std = 0.05
    else:
        w_std = 0.15
        proj_std = w_std / np.sqrt(2 * L)
    p = {
        "model/wte": normal((V, e), 0.1 if full else 0.3),
        "model/wpe": normal((C, e), 0.05 if full else 0.1),
    }
    for i in range(L):
        b = f"model/h{i}/"
        p[b + "ln_1/g"] = 1 + normal((e,), 0.1)
        p[b + "ln_1/b"] = normal((e,), 0.05)
        p[b + "attn/c_attn/w"] = normal((1, e, 3 * e), w_std)
        p[b + "attn/c_attn/b"] = normal((3 * e,), 0.02)
        p[b + "attn/c_proj/w"] = normal((1, e, e), proj_std)
        p[b + "attn/c_proj/b"] = normal((e,), 0.02)
        p[b + "ln_2/g"] = 1 + normal((e,), 0.1)
        p[b + "ln_2/b"] = normal((e,), 0.05)
        p[b + "mlp/c_fc/w"] = normal((1, e, 4 * e), w_std)
        p[b + "mlp/c_fc/b"] = normal((4 * e,), 0.02)
        p[b + "mlp/c_proj/w"] = normal((1, 4 * e, e), proj_std)
        p[b + "mlp/c_proj/b"] = normal((e,), 0.02)
    p["model/ln_f/g"] = 1 + normal((e,), 0.1)
    p["model/ln_f/b"] = normal((e,), 0.05)
    return p


def hf_name(tf_name):
    """model/h0/attn/c_attn/w -> h.0.attn.c_attn.weight"""
    parts = tf_name.split("/")[1:]
    if parts[0] in ("wte", "wpe"):
        return parts[0] + ".weight"
    leaf = {"w": "weight", "g": "weight", "b": "bias"}[parts[-1]]
    mid = parts[:-1]
    if mid[0].startswith("h"):
        mid = ["h", mid[0][1:]] + mid[1:]
    return ".".join(mid + [leaf])


def write_tf(params, hparams, out):
    import tensorflow as tf

    os.makedirs(out, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        feeds, variables = {}, []
        for name, arr in params.items():
            scopes, leaf = name.split("/")[:-1], name.split("/")[-1]
            ph = tf.compat.v1.placeholder(tf.float32, shape=arr.shape)

            def make(scopes=scopes, leaf=leaf, ph=ph):
                if not scopes:
                    return tf.compat.v1.get_variable(leaf, initializer=ph)
                with tf.compat.v1.variable_scope(scopes[0]):
                    return make(scopes[1:], leaf, ph)

            var = make()
            assert var.op.name == name, (var.op.name, name)
            variables.append(var)
            feeds[var.initializer] = (ph, arr)
        saver = tf.compat.v1.train.Saver(var_list=variables)
        with tf.compat.v1.Session(graph=graph) as sess:
            for init, (ph, arr) in feeds.items():
                sess.run(init, {ph: arr})
            cwd = os.getcwd()
            os.chdir(out)  # a relative save path keeps machine paths out of `checkpoint`
            try:
                saver.save(sess, "model.ckpt", write_meta_graph=False)
            finally:
                os.chdir(cwd)
    with open(os.path.join(out, "hparams.json"), "w") as f:
        json.dump(hparams, f, indent=2)
        f.write("\n")
    # The same content TensorFlow writes, without absolute paths.
    with open(os.path.join(out, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "model.ckpt"\nall_model_checkpoint_paths: "model.ckpt"\n')


def tf_read_with_chapter_loader(openai_dir, h, out_pickle):
    """Runs the chapter's TensorFlow-checkpoint loader (in a TensorFlow-only process)."""
    import pickle

    import tensorflow as tf
    from llms_from_scratch.ch05 import load_gpt2_params_from_tf_ckpt

    ckpt = tf.train.latest_checkpoint(openai_dir)
    params = load_gpt2_params_from_tf_ckpt(ckpt, h)
    with open(out_pickle, "wb") as f:
        pickle.dump(params, f, protocol=4)


def run_tf_stage(*args):
    """TensorFlow and torch's triton crash when loaded into one process: TF work runs apart."""
    import subprocess

    subprocess.run([sys.executable, os.path.abspath(__file__), *args], check=True)


def chapter_model(openai_dir, h, tmp):
    """The chapter's GPTModel loaded with the chapter's own TensorFlow-checkpoint loader
    (`load_gpt2_params_from_tf_ckpt`, run in a TensorFlow process, then
    `load_weights_into_gpt`)."""
    import pickle

    import torch
    from llms_from_scratch.ch04 import GPTModel
    from llms_from_scratch.ch05 import load_weights_into_gpt

    pk = os.path.join(tmp, "chapter_params.pkl")
    run_tf_stage("_tf-read", openai_dir, json.dumps(h), pk)
    with open(pk, "rb") as f:
        params = pickle.load(f)
    cfg = {
        "vocab_size": h["n_vocab"],
        "context_length": h["n_ctx"],
        "emb_dim": h["n_embd"],
        "n_heads": h["n_head"],
        "n_layers": h["n_layer"],
        "drop_rate": 0.0,
        "qkv_bias": True,
    }
    torch.manual_seed(0)
    model = GPTModel(cfg)
    # The chapter's loader names the final norm "g"/"b" at the top level.
    load_weights_into_gpt(model, params)
    model.eval()
    return model


def write_hf(params, h, out_hf, out_hub):
    import torch
    from safetensors.numpy import save_file
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=h["n_vocab"],
        n_positions=h["n_ctx"],
        n_embd=h["n_embd"],
        n_layer=h["n_layer"],
        n_head=h["n_head"],
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=1e-5,
        activation_function="gelu_new",
        tie_word_embeddings=True,
    )
    model = GPT2LMHeadModel(config)
    state = {}
    for name, arr in params.items():
        state["transformer." + hf_name(name)] = torch.from_numpy(
            arr[0] if name.endswith("/w") else arr
        )
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    assert all(k == "lm_head.weight" or k.endswith("attn.bias") or k.endswith("masked_bias") for k in missing), missing
    model.tie_weights()
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    model.eval()
    if os.path.isdir(out_hf):
        shutil.rmtree(out_hf)
    model.save_pretrained(out_hf, safe_serialization=True)
    for extra in ("generation_config.json",):
        p = os.path.join(out_hf, extra)
        if os.path.exists(p):
            os.remove(p)

    hub = {hf_name(n): np.ascontiguousarray(a[0] if n.endswith("/w") else a) for n, a in params.items()}
    mask = np.tril(np.ones((h["n_ctx"], h["n_ctx"]), dtype=np.float32))[None, None]
    for i in range(h["n_layer"]):
        hub[f"h.{i}.attn.bias"] = mask
    os.makedirs(out_hub, exist_ok=True)
    save_file(hub, os.path.join(out_hub, "model.safetensors"), metadata={"format": "pt"})
    # The hub repository ships config.json next to the weights (n_head cannot be read from shapes).
    shutil.copy(os.path.join(out_hf, "config.json"), os.path.join(out_hub, "config.json"))

    reloaded = GPT2LMHeadModel.from_pretrained(out_hf, attn_implementation="eager")
    reloaded.eval()
    return reloaded


def top_steps(model_fn, prompt, n_new, context):
    """The chapter's greedy generate, recording the top-10 logits of every step."""
    import torch
    from llms_from_scratch.ch05 import generate

    idx = torch.tensor([prompt])
    steps = []
    cur = idx
    for _ in range(n_new):
        with torch.no_grad():
            logits = model_fn(cur[:, -context:])[:, -1, :]
        vals, ids = torch.topk(logits[0], 10)
        steps.append({"top_ids": ids.tolist(), "top_logits": vals.tolist()})
        cur = torch.cat([cur, logits.argmax(-1, keepdim=True)], dim=1)
    return steps, cur[0, len(prompt):].tolist()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_tf-write":
        params = dict(np.load(sys.argv[4]))
        write_tf(params, json.loads(sys.argv[3]), sys.argv[2])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_tf-read":
        tf_read_with_chapter_loader(sys.argv[2], json.loads(sys.argv[3]), sys.argv[4])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", choices=["small", "full"], default="small")
    ap.add_argument("--out", help="output directory (default depends on the mode)")
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()

    import torch
    from llms_from_scratch.ch05 import generate

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    full = args.mode == "full"
    h = dict(FULL if full else SMALL)
    out = args.out or (os.path.join(REPO, "models", "parity-124m") if full else os.path.join(CRATE, "tests", "fixtures", "tiny"))
    os.makedirs(out, exist_ok=True)

    import tempfile

    tmp = tempfile.mkdtemp(prefix="spam-model-fixtures-")
    params = random_params(h, args.seed, full)
    npz = os.path.join(tmp, "params.npz")
    np.savez(npz, **params)
    run_tf_stage("_tf-write", os.path.join(out, "openai"), json.dumps(h), npz)
    hf = write_hf(params, h, os.path.join(out, "hf"), os.path.join(out, "hub"))
    chapter = chapter_model(os.path.join(out, "openai"), h, tmp)

    rng = np.random.default_rng(args.seed + 1)
    if full:
        prompt = [6109, 3626, 6100, 345]  # "Every effort moves you"
        ids = [prompt + rng.integers(0, h["n_vocab"], 12).tolist()]
        n_new = 10
    else:
        prompt = rng.integers(0, h["n_vocab"], 5).tolist()
        ids = rng.integers(0, h["n_vocab"], (2, 11)).tolist()
        n_new = 8
    x = torch.tensor(ids)
    with torch.no_grad():
        chapter_logits = chapter(x)
        hf_logits = hf(x).logits
    diff = (chapter_logits - hf_logits).abs().max().item()
    print(f"chapter vs transformers max |diff| = {diff:.3e}", file=sys.stderr)
    assert diff < 1e-4

    steps, greedy_ids = top_steps(chapter, prompt, n_new, h["n_ctx"])
    gen = generate(chapter, torch.tensor([prompt]), max_new_tokens=n_new, context_size=h["n_ctx"], temperature=0.0)
    assert gen[0, len(prompt):].tolist() == greedy_ids
    hf_steps, hf_greedy = top_steps(lambda t: hf(t).logits, prompt, n_new, h["n_ctx"])
    assert hf_greedy == greedy_ids

    def flat(t):
        return [round(float(v), 7) for v in t.reshape(-1).tolist()]

    expected = {
        "note": "written by crates/model/scripts/make_fixtures.py; see its docstring",
        "hparams": h,
        "input_ids": ids,
        "logits_shape": list(chapter_logits.shape),
        "greedy": {"prompt_ids": prompt, "generated_ids": greedy_ids, "steps": steps},
    }
    if full:
        # Full logits over 50257 tokens would be large: keep the last position of each row.
        expected["last_position_only"] = True
        expected["logits_shape"] = [len(ids), 1, h["n_vocab"]]
        expected["chapter_logits"] = flat(chapter_logits[:, -1:, :])
        expected["hf_logits"] = flat(hf_logits[:, -1:, :])
    else:
        expected["chapter_logits"] = flat(chapter_logits)
        expected["hf_logits"] = flat(hf_logits)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
