// simd/table_body.h — fill_table() for one ISA: every slot from gemm_impl.h / cells_impl.h.
// Included inside `namespace rnnx::cpu::<isa>` by kernels/<isa>/table.cc only (see vec.h).
#pragma once

void fill_table(KernelTable<float>& t) {
  t.isa = RNNX_ISA_NAME;
  t.vector_width = V::kWidth;
  t.gemm_nt = &gemm_nt_impl;
  t.gemm_nn = &gemm_nn_impl;
  t.gemm_tn = &gemm_tn_impl;
  t.nr = kNR;
  t.packed_size = &packed_size_impl;
  t.pack_nt = &pack_nt_impl;
  t.gemm_nt_packed = &gemm_nt_packed_cols;
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
}
