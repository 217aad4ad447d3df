//! Incremental decoding with the KV cache gives the same logits as a full forward pass, and
//! generation is deterministic per seed.

use candle_core::{DType, Device, Tensor};
use thau::model::{KvCache, Llama, ModelConfig};

#[test]
fn kv_cache_matches_full_forward() {
    let cfg = ModelConfig { vocab_size: 61, max_seq_len: 64, ..ModelConfig::tiny() };
    let model = Llama::new_random(&cfg, 11, &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap();
    let ids: Vec<u32> = (0..20u32).map(|i| (i * 17 + 3) % 61).collect();
    let full = model.forward(&Tensor::from_slice(&ids, (1, 20), &Device::Cpu).unwrap()).unwrap(); // (20, V)
                                                                                                  // Prefill 7 tokens, then feed the rest one at a time (and one chunk of 4).
    let mut cache = KvCache::default();
    let mut rows = Vec::new();
    let pre =
        model.forward_cached(&Tensor::from_slice(&ids[..7], (1, 7), &Device::Cpu).unwrap(), &mut cache, true).unwrap();
    rows.push(pre);
    for i in 7..16 {
        rows.push(
            model
                .forward_cached(&Tensor::from_slice(&ids[i..i + 1], (1, 1), &Device::Cpu).unwrap(), &mut cache, true)
                .unwrap(),
        );
    }
    rows.push(
        model
            .forward_cached(&Tensor::from_slice(&ids[16..20], (1, 4), &Device::Cpu).unwrap(), &mut cache, true)
            .unwrap(),
    );
    assert_eq!(cache.len(), 20);
    let inc = Tensor::cat(&rows, 0).unwrap();
    let diff = (inc - &full).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
    assert!(diff < 1e-10, "incremental logits differ from the full pass by {diff}");
    // Past the context the model refuses instead of panicking.
    let too_long: Vec<u32> = vec![1; 65];
    assert!(model.forward(&Tensor::from_slice(&too_long, (1, 65), &Device::Cpu).unwrap()).is_err());
}
