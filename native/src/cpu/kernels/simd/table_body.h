// simd/table_body.h — fill_table() for one ISA: every slot from gemm_impl.h / cells_impl.h.
// Included inside `namespace rnnx::cpu::<isa>` by kernels/<isa>/table.cc only (see vec.h).
#pragma once

// 16 independent FMA chains (enough to cover FMA latency x throughput on every core we target).
double fma_peak_impl(double seconds) {
  V a[16];
  for (int i = 0; i < 16; ++i) a[i] = V::set1(1.0f + 1e-3f * static_cast<float>(i));
  const V m = V::set1(0.999999f), c = V::set1(1e-7f);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t iters = 0;
  double el = 0;
  do {
    for (int r = 0; r < 1000; ++r)
      for (int i = 0; i < 16; ++i) a[i] = V::fmadd(a[i], m, c);
    iters += 1000;
    el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (el < seconds);
  float sink = 0;
  for (int i = 0; i < 16; ++i) sink += V::reduce(a[i]);
  volatile float keep = sink;
  (void)keep;
  return static_cast<double>(iters) * 16.0 * V::kWidth * 2.0 / el / 1e9;
}

void fill_table(KernelTable<float>& t) {
  t.fma_peak = &fma_peak_impl;
  t.isa = RNNX_ISA_NAME;
  t.vector_width = V::kWidth;
  t.gemm_nt = &gemm_nt_impl;
  t.gemm_nn = &gemm_nn_impl;
  t.gemm_tn = &gemm_tn_impl;
  t.nr = kNR;
  t.packed_size = &packed_size_impl;
  t.pack_nt = &pack_nt_impl;
  t.pack_kn = &pack_kn_impl;
  t.gemm_nt_packed = &gemm_nt_packed_cols;
  t.gemm_tn_packed = &gemm_tn_packed_cols;
  t.pack_nt_bf16 = &pack_nt_bf16_impl;
  t.gemm_nt_bf16 = &gemm_nt_bf16_cols;
  t.pack_nt_i8 = &pack_nt_i8_impl;
  t.gemm_nt_i8 = &gemm_nt_i8_cols;
  t.lstm_fwd = &lstm_fwd_v;
  t.lstm_hout = &lstm_hout_v;
  t.lstm_bwd = &lstm_bwd_v;
  t.gru_fwd = &gru_fwd_v;
  t.gru_reset = &gru_reset_v;
  t.gru_bwd = &gru_bwd_v;
  t.gru_bwd_reset = &gru_bwd_reset_v;
  t.gru_rh = &gru_rh_v;
  t.rnn_fwd = &rnn_fwd_v;
  t.rnn_bwd = &rnn_bwd_v;
  t.iblocks = &iblocks_impl;
  t.ipacked_size = &ipacked_size_impl;
  t.ipacked_size_bf16 = &ipacked_size_bf16_impl;
  t.ipack = &ipack_impl;
  t.ipack_bf16 = &ipack_bf16_impl;
  t.rnn_step = &rnn_step_impl;
}
