/* What the gallery's scans (index.c, ivf.c) share: the k best hits in a max-heap, and int8 dot
 * products: a portable one the compiler vectorises (NEON on arm64), and on x86-64 an AVX2 one for
 * callers compiled for AVX2 and chosen at run time (__builtin_cpu_supports); n is a multiple of 32. */
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
#define FID__HAVE_DOT_I8_AVX2 1
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
#endif

#endif
