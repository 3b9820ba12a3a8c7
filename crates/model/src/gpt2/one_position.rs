//! One position per row: a block's output where only one position feeds the head.
//!
//! [`Block::forward_at`] runs the last block's attention for one query per row (the token
//! the classifier reads) instead of every position, in one of two forms: from the query side,
//! with keys and values never formed (`Attention::forward_at_query_side`), or, where that does
//! not apply, with keys and values projected and the rest at that position alone
//! (`Attention::forward_at`). Both give `forward` gathered at the position.
use tch::{Device, Kind, Tensor};

use super::{Attention, Block, LayerNorm, Layout};

impl Block {
    /// The block's output at one position per row (`pos` `[b]`, int64): equal to
    /// `forward(x)` gathered at `pos`, at a fraction of the cost when the result feeds
    /// only a classification head. Returns `[b, e]`.
    pub fn forward_at(&self, x: &Tensor, pos: &Tensor, causal: bool, train: bool) -> Tensor {
        let (b, t, e) = x
            .size3()
            .unwrap_or_else(|_| panic!("block input must be [b, t, e]"));
        let x = x.reshape([b * t, e]);
        let pos = pos.to_device(x.device());
        let at = Tensor::arange(b, (Kind::Int64, x.device())) * t + &pos;
        let x_at = x.index_select(0, &at);
        let keys = KeyRows::of(&pos, b, t, causal, x.device());
        let (rows, query) = match &keys {
            Some(k) => (x.index_select(0, &k.src), k.query.shallow_clone()),
            None => (x, at),
        };
        let at = OneQuery {
            query: &query,
            keys: keys.as_ref(),
            b,
            t,
            pos: &pos,
            causal,
        };
        let attn = if self.attn.has_query_side(train) {
            let x_hat = self.ln_1.normalize(&rows);
            self.attn
                .forward_at_query_side(&x_hat, &self.ln_1, &at, train)
        } else {
            let h = self.ln_1.forward(&rows);
            self.attn.forward_at(&h, &at, train)
        };
        let x_at = x_at + attn;
        &x_at + self.mlp.forward(&self.ln_2.forward(&x_at), train)
    }
}

/// The positions whose keys and values a one-position-per-row block needs, flattened.
///
/// Under the causal mask row `r`'s query at `pos[r]` sees keys `0..=pos[r]` only, so the
/// positions after it (the padding of a short message under `flexible`, all but one under
/// `first`) need no keys, values or norm at all.
struct KeyRows {
    /// Indices into the `[b * t]` input rows, grouped by row.
    src: Tensor,
    /// Where each of them goes in the `[b * tk]` key layout.
    dst: Tensor,
    /// Index into `src` of each row's query position.
    query: Tensor,
    tk: i64,
}

impl KeyRows {
    /// `None` when every position is needed (the `last` position, or no causal mask).
    /// The index tensors are made on `device`.
    fn of(pos: &Tensor, b: i64, t: i64, causal: bool, device: Device) -> Option<Self> {
        if !causal {
            return None;
        }
        let pos: Vec<i64> = Vec::<i64>::try_from(&pos.to_device(Device::Cpu)).ok()?;
        let visible: i64 = pos.iter().map(|&p| p + 1).sum();
        if visible >= b * t {
            return None;
        }
        let tk = pos.iter().copied().max().unwrap_or(0) + 1;
        let (mut src, mut dst, mut query) = (Vec::new(), Vec::new(), Vec::new());
        for (r, &p) in (0i64..).zip(&pos) {
            for j in 0..=p {
                src.push(r * t + j);
                dst.push(r * tk + j);
            }
            query.push(src.len() as i64 - 1);
        }
        let on_device = |v: &[i64]| Tensor::from_slice(v).to_device(device);
        Some(Self {
            src: on_device(&src),
            dst: on_device(&dst),
            query: on_device(&query),
            tk,
        })
    }
}

/// One query per row for the one-position attention forms: where each row's query sits
/// among the key rows, and which key rows it sees.
struct OneQuery<'a> {
    /// Index of each row's query position among the key rows, `[b]`.
    query: &'a Tensor,
    /// The key rows' places when only some positions carry keys (`None`: all `b * t`).
    keys: Option<&'a KeyRows>,
    b: i64,
    t: i64,
    /// Each row's query position, `[b]`.
    pos: &'a Tensor,
    causal: bool,
}

impl OneQuery<'_> {
    /// Key rows `[n, c]` in a `[b * tk, c]` layout, with `tk`: slots no query sees stay zero
    /// (and are masked).
    fn key_layout(&self, rows: &Tensor) -> (Tensor, i64) {
        match self.keys {
            Some(k) => {
                let c = rows.size()[1];
                let zeros = Tensor::zeros([self.b * k.tk, c], (rows.kind(), rows.device()));
                (zeros.index_copy(0, &k.dst, rows), k.tk)
            }
            None => (rows.shallow_clone(), self.t),
        }
    }

    /// `[b, tk]`, true where key `j` is visible to row `r`'s query (`j <= pos[r]`); `None`
    /// without the causal mask, where every key is.
    fn visible(&self, tk: i64) -> Option<Tensor> {
        self.causal.then(|| {
            Tensor::arange(tk, (Kind::Int64, self.pos.device()))
                .unsqueeze(0)
                .le_tensor(&self.pos.unsqueeze(1))
        })
    }
}

impl Attention {
    /// Whether [`Attention::forward_at_query_side`] applies: the fused projection is a plain
    /// `Conv1D` weight, so its key and value parts can be read as `[e, n_head, d]`, and no
    /// attention dropout makes the weights of a row sum to other than 1.
    fn has_query_side(&self, train: bool) -> bool {
        self.c_attn.lora.is_none()
            && self.c_attn.layout == Layout::InOut
            && !(train && self.dropout > 0.0)
    }

    /// Attention output at one query position per row, computed from the query side, with
    /// keys and values never formed. `x_hat` `[n, e]` are the key rows `at` describes,
    /// normalised by `ln` without its scale `γ` and shift `β`. Returns `[b, e]`.
    ///
    /// With `h_j = x̂_j ⊙ γ + β`, `k_j = h_j W_k + b_k` and `v_j = h_j W_v + b_v`, head `i` of
    /// row `r` scores key `j` with `q·k_j = x̂_j·(γ ⊙ W_k q) + (β W_k + b_k)·q`; the second
    /// term is the same for every `j`, so the softmax drops it. Its output is
    /// `Σ_j p_j v_j = ((Σ_j p_j x̂_j) ⊙ γ + β) W_v + b_v`, as `Σ_j p_j = 1`. Per row that is
    /// two products of the key rows with `n_head` vectors instead of projecting every key
    /// row to `2e` values (~`e / n_head` times fewer operations, forward and backward), the
    /// same math up to float rounding. `b_k` takes no part, so it gets no gradient: the
    /// loss does not depend on it.
    fn forward_at_query_side(
        &self,
        x_hat: &Tensor,
        ln: &LayerNorm,
        at: &OneQuery,
        train: bool,
    ) -> Tensor {
        let b = at.b;
        let e = x_hat.size()[1];
        let (nh, d) = (self.n_head, e / self.n_head);
        let c = &self.c_attn;
        // In mixed precision the products run in bf16; γ, β and the softmax stay fp32.
        let kind = c.compute_kind();
        let c_weight = c.compute_weight();
        let c_bias = c.compute_bias();
        // Part `i` (0 = q, 1 = k, 2 = v) of the fused weight, `[n_head, e, d]`, and bias.
        let weight = |i: i64| {
            c_weight
                .narrow(1, i * e, e)
                .reshape([e, nh, d])
                .permute([1, 0, 2])
        };
        let bias = |i: i64| c_bias.as_ref().map(|b| b.narrow(0, i * e, e));
        let h_at = ln.affine(&x_hat.index_select(0, at.query)).to_kind(kind);
        let q = h_at.matmul(&c_weight.narrow(1, 0, e));
        let q = match bias(0) {
            Some(b_q) => q + b_q,
            None => q,
        } * (d as f64).powf(-0.5);
        // u[r, i] = γ ⊙ (W_k,i q[r, i]): [n_head, e, d] x [n_head, d, b] -> [b, n_head, e].
        let u = (weight(1)
            .matmul(&q.view([b, nh, d]).permute([1, 2, 0]))
            .permute([2, 0, 1])
            * &ln.weight)
            .to_kind(kind);
        let (rows, tk) = at.key_layout(&x_hat.to_kind(kind));
        let rows = rows.view([b, tk, e]);
        let scores = rows.bmm(&u.transpose(1, 2)); // [b, tk, n_head]
        let scores = match at.visible(tk) {
            Some(visible) => {
                scores.masked_fill(&visible.logical_not().unsqueeze(-1), f64::NEG_INFINITY)
            }
            None => scores,
        };
        let p = scores.softmax(1, Kind::Float).to_kind(kind);
        // Σ_j p_j x̂_j per head, then γ, β and the value projection: [b, n_head, e].
        let z = (p.transpose(1, 2).bmm(&rows) * &ln.weight + &ln.bias).to_kind(kind);
        let y = z.permute([1, 0, 2]).matmul(&weight(2)).permute([1, 0, 2]); // [b, n_head, d]
        let y = match bias(2) {
            Some(b_v) => y + b_v.view([nh, d]),
            None => y,
        };
        self.c_proj
            .forward(&y.reshape([b, e]))
            .dropout(self.dropout, train)
    }

    /// Attention output at one query position per row, where the query side does not apply
    /// (an adapter, the `[out, in]` layout, attention dropout in training): `h` `[n, e]` are
    /// the normed key rows `at` describes. Keys and values are projected for every key row;
    /// the query, the attention and the output projection run at that position alone.
    /// Returns `[b, e]`.
    fn forward_at(&self, h: &Tensor, at: &OneQuery, train: bool) -> Tensor {
        let (e, b) = (h.size()[1], at.b);
        let d = e / self.n_head;
        let c = &self.c_attn;
        let q = c.forward(&h.index_select(0, at.query)).narrow(1, 0, e);
        let (kv, tk) = at.key_layout(&c.forward(h).narrow(1, e, 2 * e));
        let q = q.view([b, self.n_head, 1, d]);
        let kv = kv.view([b, tk, 2, self.n_head, d]).permute([2, 0, 3, 1, 4]);
        let (k, v) = (kv.get(0), kv.get(1));
        let mask = at.visible(tk).map(|m| m.view([b, 1, 1, tk]));
        let p = if train { self.dropout } else { 0.0 };
        let y = Tensor::scaled_dot_product_attention(&q, &k, &v, mask, p, false, None, false);
        self.c_proj
            .forward(&y.reshape([b, e]))
            .dropout(self.dropout, train)
    }
}
