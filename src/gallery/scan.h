/* What the gallery's scans (index.c, ivf.c) share: the k best hits in a max-heap, and int8 dot
 * products: a portable one, and a fast one where the CPU has one (FID__HAVE_DOT_I8_FAST):
 *   x86-64: AVX2, for callers compiled for AVX2 (FID__FAST_TARGET) and chosen at run time
 *           (FID__FAST_AVAILABLE, i.e. __builtin_cpu_supports);
 *   arm64:  NEON, which every arm64 CPU has (widening multiplies; the dot-product extension is
 *           missing on the Raspberry Pi 4's Cortex-A72, so it is not used).
 * n is a multiple of 32. */
#ifndef FID_GALLERY_SCAN_H
#define FID_GALLERY_SCAN_H

#include <stdint.h>

typedef struct fid__hit {
    float d;
    int64_t i;
} fid__hit;

/* Keeps the k smallest distances seen in a max-heap of *size (<= k) entries. */
static inline void fid__hit_push(fid__hit *heap, int *size, int k, float d, int64_t i) {
    int c;
    if (*size < k) {
        c = (*size)++;
        heap[c] = (fid__hit){d, i};
        while (c > 0 && heap[(c - 1) / 2].d < heap[c].d) {
            fid__hit t = heap[c];
            heap[c] = heap[(c - 1) / 2], heap[(c - 1) / 2] = t;
            c = (c - 1) / 2;
        }
        return;
    }
    if (d >= heap[0].d) return;
    heap[0] = (fid__hit){d, i};
    c = 0;
    for (;;) {
        int l = 2 * c + 1, r = l + 1, m = c;
        if (l < k && heap[l].d > heap[m].d) m = l;
        if (r < k && heap[r].d > heap[m].d) m = r;
        if (m == c) break;
        fid__hit t = heap[c];
        heap[c] = heap[m], heap[m] = t;
        c = m;
    }
}

static inline int32_t fid__dot_i8(const int8_t *a, const int8_t *b, int n) {
    int32_t s = 0;
    for (int k = 0; k < n; k++)
        s += a[k] * b[k];
    return s;
}

#if defined(__x86_64__)
#include <immintrin.h>
#define FID__HAVE_DOT_I8_FAST 1
#define FID__FAST_TARGET __attribute__((target("avx2")))
#define FID__FAST_AVAILABLE() __builtin_cpu_supports("avx2")
#define FID__FAST_NAME "AVX2"
#define FID__DOT_I8_FAST fid__dot_i8_avx2
__attribute__((target("avx2"), always_inline)) static inline int32_t fid__dot_i8_avx2(const int8_t *a, const int8_t *b,
                                                                                      int n) {
    __m256i acc = _mm256_setzero_si256();
    for (int k = 0; k < n; k += 32) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(a + k)), vb = _mm256_loadu_si256((const __m256i *)(b + k));
        /* int8 -> int16, multiply-add pairs into int32 */
        __m256i a0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(va)),
                b0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(vb));
        __m256i a1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(va, 1)),
                b1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(vb, 1));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a0, b0));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a1, b1));
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define FID__HAVE_DOT_I8_FAST 1
#define FID__FAST_TARGET
#define FID__FAST_AVAILABLE() 1
#define FID__FAST_NAME "NEON"
#define FID__DOT_I8_FAST fid__dot_i8_neon
static inline int32_t fid__dot_i8_neon(const int8_t *a, const int8_t *b, int n) {
    /* int8 x int8 -> int16 (|127 * 127| fits), pairwise added into int32 */
    int32x4_t acc0 = vdupq_n_s32(0), acc1 = vdupq_n_s32(0);
    for (int k = 0; k < n; k += 16) {
        int8x16_t va = vld1q_s8(a + k), vb = vld1q_s8(b + k);
        acc0 = vpadalq_s16(acc0, vmull_s8(vget_low_s8(va), vget_low_s8(vb)));
        acc1 = vpadalq_s16(acc1, vmull_high_s8(va, vb));
    }
    return vaddvq_s32(vaddq_s32(acc0, acc1));
}
#endif
#endif
