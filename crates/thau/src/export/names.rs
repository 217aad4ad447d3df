//! How THAU's (Hugging Face) tensor names and layouts map to llama.cpp's GGUF ones.
//!
//! Names: `model.layers.N.self_attn.q_proj.weight` ↔ `blk.N.attn_q.weight` and so on.
//!
//! RoPE layout: HF Llama rotates the two halves of each head (`rotate_half`: dimension i pairs
//! with i + D/2); llama.cpp's `llama` architecture rotates adjacent pairs (2i with 2i + 1).
//! The same network in llama.cpp therefore needs the rows of q_proj and k_proj reordered
//! within each head, as llama.cpp's own `convert_hf_to_gguf.py` does:
//! `w.reshape(H, 2, D/2, C).swapaxes(1, 2).reshape(H·D, C)`.
//! Only whole rows move, so the reordering is exact for quantized rows too.

/// GGUF name of a THAU/HF tensor name, `None` for names outside the Llama architecture.
pub fn hf_to_gguf(name: &str) -> Option<String> {
    match name {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = name.strip_prefix("model.layers.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let part = match part {
        "input_layernorm.weight" => "attn_norm",
        "self_attn.q_proj.weight" => "attn_q",
        "self_attn.k_proj.weight" => "attn_k",
        "self_attn.v_proj.weight" => "attn_v",
        "self_attn.o_proj.weight" => "attn_output",
        "post_attention_layernorm.weight" => "ffn_norm",
        "mlp.gate_proj.weight" => "ffn_gate",
        "mlp.up_proj.weight" => "ffn_up",
        "mlp.down_proj.weight" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{part}.weight"))
}

/// THAU/HF name of a GGUF tensor name, `None` for names outside the Llama architecture.
pub fn gguf_to_hf(name: &str) -> Option<String> {
    match name {
        "token_embd.weight" => return Some("model.embed_tokens.weight".into()),
        "output_norm.weight" => return Some("model.norm.weight".into()),
        "output.weight" => return Some("lm_head.weight".into()),
        _ => {}
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let part = match part {
        "attn_norm.weight" => "input_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{part}"))
}

/// Which RoPE'd projection an HF name is, with its head count: `Some(n_heads)` for q_proj,
/// `Some(n_kv_heads)` for k_proj, `None` otherwise.
pub fn rope_heads(hf_name: &str, n_heads: usize, n_kv_heads: usize) -> Option<usize> {
    if hf_name.ends_with(".self_attn.q_proj.weight") {
        Some(n_heads)
    } else if hf_name.ends_with(".self_attn.k_proj.weight") {
        Some(n_kv_heads)
    } else {
        None
    }
}

/// Direction of [`permute_rope_rows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeOrder {
    /// HF rotate-half rows → llama.cpp adjacent-pair rows (export).
    HfToGguf,
    /// llama.cpp adjacent-pair rows → HF rotate-half rows (import).
    GgufToHf,
}

/// Reorder the rows of a q/k projection of `n_heads` heads of `head_dim` rows each, given as
/// raw row-major bytes (any element type: f32, f16 or whole quantized rows).
///
/// Within head h, HF row `h·D + j·D/2 + i` (half j ∈ {0, 1}, i < D/2) is GGUF row
/// `h·D + 2i + j`.
pub fn permute_rope_rows(bytes: &[u8], n_heads: usize, head_dim: usize, order: RopeOrder) -> Vec<u8> {
    let rows = n_heads * head_dim;
    assert!(rows > 0 && head_dim.is_multiple_of(2) && bytes.len().is_multiple_of(rows), "whole rows of whole heads");
    let row = bytes.len() / rows;
    let half = head_dim / 2;
    let mut out = vec![0u8; bytes.len()];
    for h in 0..n_heads {
        for j in 0..2 {
            for i in 0..half {
                let hf = h * head_dim + j * half + i;
                let gguf = h * head_dim + 2 * i + j;
                let (src, dst) = match order {
                    RopeOrder::HfToGguf => (hf, gguf),
                    RopeOrder::GgufToHf => (gguf, hf),
                };
                out[dst * row..(dst + 1) * row].copy_from_slice(&bytes[src * row..(src + 1) * row]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let cfg = crate::model::ModelConfig { tie_embeddings: false, ..crate::model::ModelConfig::tiny() };
        for p in crate::model::llama::param_specs(&cfg) {
            let g = hf_to_gguf(&p.name).unwrap();
            assert_eq!(gguf_to_hf(&g).as_deref(), Some(p.name.as_str()));
        }
        assert_eq!(hf_to_gguf("model.layers.3.self_attn.o_proj.weight").unwrap(), "blk.3.attn_output.weight");
        assert!(hf_to_gguf("model.layers.x.mlp.up_proj.weight").is_none());
        assert!(gguf_to_hf("blk.0.attn_qkv.weight").is_none());
    }

    /// The permutation is numpy's `reshape(H, 2, D/2, C).swapaxes(1, 2)` and its inverse.
    #[test]
    fn rope_permutation_matches_the_reference_and_inverts() {
        let (h, d, c) = (3, 8, 2);
        let rows: Vec<u8> = (0..(h * d * c) as u8).collect();
        let g = permute_rope_rows(&rows, h, d, RopeOrder::HfToGguf);
        // Reference: element [h, i, j, col] of the swapped array is rows[h, j, i, col].
        let mut want = Vec::new();
        for hh in 0..h {
            for i in 0..d / 2 {
                for j in 0..2 {
                    let r = hh * d + j * d / 2 + i;
                    want.extend_from_slice(&rows[r * c..(r + 1) * c]);
                }
            }
        }
        assert_eq!(g, want);
        assert_ne!(g, rows);
        assert_eq!(permute_rope_rows(&g, h, d, RopeOrder::GgufToHf), rows);
    }
}
