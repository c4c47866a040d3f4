// team_handoff.cc — a stand-alone model of batch 1's team step (C5's shape: GRU 128, two threads,
// 96 KB of gate-interleaved weights each, 4 cache lines of h handed each way per step), to tell the
// product's cost from the handoff's on a given machine. No rnnx code; build and run:
//   g++ -O3 -mavx512f -mfma -pthread native/bench/team_handoff.cc -o /tmp/team_handoff
//   /tmp/team_handoff MODE [PF_BLOCK] [BUFFERS]
// MODE 0: product, then a barrier (a counter per thread) per step, as rnnx's team does;
//      3: the same with the whole h prefetched at the step's start;
//      4: split phase: the columns of the thread's own half of h first, then wait for the other's
//         counter, then the other half;
//      5: one transfer: the other half's lines are themselves the flag (a signalling-NaN payload
//         marks a line not yet written; BUFFERS rotating buffers, 3..6, each reset by its writer
//         once read), own half first, the other's lines prefetched after PF_BLOCK own blocks.
//      2: no exchange: each thread runs the same product on an h of its own, no barrier (the
//         product alone, both cores busy).
#include <immintrin.h>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>
#include <cstdio>
#include <cstdlib>
#include <cstring>
constexpr int H = 128;
struct alignas(64) Slot { std::atomic<uint64_t> v{0}; char pad[56]; };
Slot slots[2];
alignas(64) float hb[2][H];
alignas(64) float hpriv[2][2][H];
alignas(64) float hb3[6][H];
int NB = 3;
const uint32_t SENT = 0x7FA0DEADu;
int PFAT = 1;
int MODE = 0;
double per_step[2];
static inline void gemv(const float* P, const float* h, int k0, int k1, __m512 (&acc)[3]) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, t0_ = s0, t1 = s0, t2 = s0;
  for (int k = k0; k < k1; k += 2) {
    __m512 a = _mm512_set1_ps(h[k]);
    s0 = _mm512_fmadd_ps(a, _mm512_load_ps(P + k * 48), s0);
    s1 = _mm512_fmadd_ps(a, _mm512_load_ps(P + k * 48 + 16), s1);
    s2 = _mm512_fmadd_ps(a, _mm512_load_ps(P + k * 48 + 32), s2);
    __m512 b = _mm512_set1_ps(h[k + 1]);
    t0_ = _mm512_fmadd_ps(b, _mm512_load_ps(P + k * 48 + 48), t0_);
    t1 = _mm512_fmadd_ps(b, _mm512_load_ps(P + k * 48 + 64), t1);
    t2 = _mm512_fmadd_ps(b, _mm512_load_ps(P + k * 48 + 80), t2);
  }
  acc[0] = _mm512_add_ps(acc[0], _mm512_add_ps(s0, t0_));
  acc[1] = _mm512_add_ps(acc[1], _mm512_add_ps(s1, t1));
  acc[2] = _mm512_add_ps(acc[2], _mm512_add_ps(s2, t2));
}
void member(int m, int steps) {
  float* W = (float*)aligned_alloc(64, 4 * H * 48 * 4);
  for (int i = 0; i < 4 * H * 48; ++i) W[i] = 1e-4f * ((i * 7) % 13 - 6);
  uint64_t reached = 0;
  auto wait = [&] { while (slots[1 - m].v.load(std::memory_order_acquire) < reached) _mm_pause(); };
  auto arrive = [&] { ++reached; slots[m].v.store(reached, std::memory_order_release); };
  const int own0 = m * 64, rem0 = (1 - m) * 64;
  auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) {
    const float* h = hb[s & 1];
    float* hn = hb[(s + 1) & 1] + m * 64;
    __m512 acc[4][3];
    for (auto& a : acc) for (auto& v : a) v = _mm512_setzero_ps();
    if (MODE == 2) {
      h = hpriv[m][s & 1];
      hn = hpriv[m][(s + 1) & 1] + m * 64;
      for (int q = 0; q < 4; ++q) gemv(W + q * H * 48, h, 0, H, acc[q]);
    } else if (MODE == 3 || MODE == 0) {
      if (MODE == 3) for (int i = 0; i < H; i += 16) _mm_prefetch((const char*)(h + i), _MM_HINT_T0);
      for (int q = 0; q < 4; ++q) gemv(W + q * H * 48, h, 0, H, acc[q]);
    } else if (MODE == 5) {
      h = hb3[s % NB];
      hn = hb3[(s + 1) % NB] + m * 64;
      for (int q = 0; q < 4; ++q) {
        gemv(W + q * H * 48, h, own0, own0 + 64, acc[q]);
        if (q + 1 == PFAT && s > 0) for (int i = rem0; i < rem0 + 64; i += 16) _mm_prefetch((const char*)(h + i), _MM_HINT_T0);
      }
      if (s > 0) {
        const __m512i sv = _mm512_set1_epi32((int)SENT);
        for (;;) {
          __mmask16 bad = 0;
          for (int i = rem0; i < rem0 + 64; i += 16) bad |= _mm512_cmpeq_epi32_mask(_mm512_load_si512((const void*)(h + i)), sv);
          if (!bad) break;
          _mm_pause();
          asm volatile("" ::: "memory");
        }
      }
      float* rs = hb3[(s + NB - 1) % NB] + own0;
      for (int i = 0; i < 64; i += 16) _mm512_store_si512((void*)(rs + i), _mm512_set1_epi32((int)SENT));
      for (int q = 0; q < 4; ++q) gemv(W + q * H * 48, h, rem0, rem0 + 64, acc[q]);
    } else if (MODE == 4) {
      for (int q = 0; q < 4; ++q) gemv(W + q * H * 48, h, own0, own0 + 64, acc[q]);
      if (s > 0) wait();
      for (int i = rem0; i < rem0 + 64; i += 16) _mm_prefetch((const char*)(h + i), _MM_HINT_T0);
      for (int q = 0; q < 4; ++q) gemv(W + q * H * 48, h, rem0, rem0 + 64, acc[q]);
    }
    for (int q = 0; q < 4; ++q) {
      __m512 r = _mm512_add_ps(_mm512_add_ps(acc[q][0], acc[q][1]), acc[q][2]);
      r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-1.f)), _mm512_set1_ps(1.f));
      _mm512_store_ps(hn + q * 16, r);
    }
    if (MODE == 4) arrive();
    else if (MODE == 5 || MODE == 2) {}
    else { arrive(); wait(); }
  }
  per_step[m] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps * 1e6;
}
int main(int argc, char** argv) {
  MODE = atoi(argv[1]); if (argc > 2) PFAT = atoi(argv[2]); if (argc > 3) NB = atoi(argv[3]);
  for (int i = 0; i < H; ++i) { hb3[0][i] = 0.01f * (i % 5); uint32_t u = SENT; for (int b = 1; b < 6; ++b) memcpy(&hb3[b][i], &u, 4); }
  for (int i = 0; i < H; ++i) hb[0][i] = hb[1][i] = hpriv[0][0][i] = hpriv[0][1][i] = hpriv[1][0][i] = hpriv[1][1][i] = 0.01f * (i % 5);
  std::vector<std::thread> th;
  for (int t = 0; t < 2; ++t) th.emplace_back(member, t, 200000);
  for (auto& x : th) x.join();
  printf("mode %d: %.3f %.3f us/step\n", MODE, per_step[0], per_step[1]);
}
