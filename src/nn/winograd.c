#include "nn/winograd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef HS_HAVE_OPENMP
#include <omp.h>
#endif

#include "util/error.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define WINO_HAVE_AVX2 1
#endif

#define WINO_INLINE static inline __attribute__((always_inline))

/* Output tiles per chunk (a multiple of the micro-kernel's 6 rows): the chunk's V and M
 * (36 x tiles x channels floats each, 221 KiB at 64 channels) stay in L2. */
enum { CHUNK_FWD = 24, CHUNK_BWW = 24 };

/* Eight channels (one nChw8c block, one AVX register in the AVX2 build). Only ever passed
 * by pointer: by value it would change the ABI between the two builds. */
typedef float v8f __attribute__((vector_size(32)));

/* Unaligned access to 8 floats (one ymm load/store in the AVX2 build; memcpy would be split
 * into 16-byte halves, which stalls store-to-load forwarding). */
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));
#define V8_LOAD(v, p) ((v) = *(const v8u *)(const void *)(p))
#define V8_STORE(p, v) (*(v8u *)(void *)(p) = (v))

static int force_portable;

void hs_wino_force_portable(int on)
{
    force_portable = on != 0;
}

/* The AVX2+FMA kernels when this CPU has both, unless a test forced the portable ones. */
static int use_avx2(void)
{
#ifdef WINO_HAVE_AVX2
    static int cached = -1;
    if (force_portable)
        return 0;
    if (cached < 0)
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    return cached;
#else
    return 0;
#endif
}

static int max_threads(void)
{
#ifdef HS_HAVE_OPENMP
    int n = omp_get_max_threads();
    return n > 0 ? n : 1;
#else
    return 1;
#endif
}

static int thread_id(void)
{
#ifdef HS_HAVE_OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

void hs_wino_ws_free(hs_wino_ws *ws)
{
    if (!ws)
        return;
    free(ws->buf);
    ws->buf = NULL;
    ws->cap = 0;
}

static hs_status ws_reserve(hs_wino_ws *ws, size_t floats)
{
    if (floats <= ws->cap)
        return HS_OK;
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (!p)
        return hs_fail(HS_ERR_NOMEM, "Winograd convolution: out of memory (%zu bytes of scratch)",
                       bytes);
    free(ws->buf);
    ws->buf = p;
    ws->cap = bytes / sizeof(float);
    return HS_OK;
}

static size_t round16(size_t n)
{
    return (n + 15) / 16 * 16;
}

/* ------------------------------------------------------------------------- */
/* Transforms (F(4x4, 3x3), Lavin & Gray's matrices)                          */
/* ------------------------------------------------------------------------- */

/* B^T (6x6) applied to d0..d5 (stride is) into o (stride os). */
WINO_INLINE void bt6(v8f *o, size_t os, const v8f *d, size_t is)
{
    v8f d0 = d[0], d1 = d[is], d2 = d[2 * is], d3 = d[3 * is], d4 = d[4 * is], d5 = d[5 * is];
    v8f d42 = d4 - d2;
    o[0] = 4.0f * d0 - 5.0f * d2 + d4;
    o[os] = (d3 + d4) - 4.0f * (d1 + d2);
    o[2 * os] = 4.0f * (d1 - d2) + (d4 - d3);
    o[3 * os] = 2.0f * (d3 - d1) + d42;
    o[4 * os] = 2.0f * (d1 - d3) + d42;
    o[5 * os] = 4.0f * d1 - 5.0f * d3 + d5;
}

/* A^T (4x6) applied to m0..m5. */
WINO_INLINE void at6(v8f *o, size_t os, const v8f *m, size_t is)
{
    v8f s12 = m[is] + m[2 * is], d12 = m[is] - m[2 * is];
    v8f s34 = m[3 * is] + m[4 * is], d34 = m[3 * is] - m[4 * is];
    o[0] = m[0] + s12 + s34;
    o[os] = d12 + 2.0f * d34;
    o[2 * os] = s12 + 4.0f * s34;
    o[3 * os] = d12 + 8.0f * d34 + m[5 * is];
}

/* A (6x4) applied to q0..q3. */
WINO_INLINE void a4(v8f *o, size_t os, const v8f *q, size_t is)
{
    v8f q0 = q[0], q1 = q[is], q2 = q[2 * is], q3 = q[3 * is];
    v8f a = q0 + q2, b = q1 + q3, c = q0 + 4.0f * q2, e = 2.0f * q1 + 8.0f * q3;
    o[0] = q0;
    o[os] = a + b;
    o[2 * os] = a - b;
    o[3 * os] = c + e;
    o[4 * os] = c - e;
    o[5 * os] = q3;
}

/* V = B^T d B (6x6, row-major). */
WINO_INLINE void in_transform(v8f *v, const v8f *d)
{
    v8f t[36];
    for (size_t j = 0; j < 6; j++)
        bt6(t + j, 6, d + j, 6);
    for (size_t i = 0; i < 6; i++)
        bt6(v + 6 * i, 1, t + 6 * i, 1);
}

/* Y = A^T m A (4x4 from 6x6). */
WINO_INLINE void out_transform(v8f *y, const v8f *m)
{
    v8f t[24];
    for (size_t j = 0; j < 6; j++)
        at6(t + j, 6, m + j, 6);
    for (size_t i = 0; i < 4; i++)
        at6(y + 4 * i, 1, t + 6 * i, 1);
}

/* Z = A q A^T (6x6 from 4x4): the output gradient's transform for the weight gradient. */
WINO_INLINE void dy_transform(v8f *z, const v8f *q)
{
    v8f t[24];
    for (size_t j = 0; j < 4; j++)
        a4(t + j, 4, q + j, 4);
    for (size_t i = 0; i < 6; i++)
        a4(z + 6 * i, 1, t + 4 * i, 1);
}

static const double G[6][3] = {{1.0 / 4, 0, 0},
                               {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                               {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                               {1.0 / 24, 1.0 / 12, 1.0 / 6},
                               {1.0 / 24, -1.0 / 12, 1.0 / 6},
                               {0, 0, 1}};

/* ------------------------------------------------------------------------- */
/* GEMM micro-kernels: C (mr x nr, mr <= 6, nr 8 or 16) (+)= A (mr x K) B (K x nr), with   */
/* A(i, k) = A[i * rsa + k * csa], B(k, j) = B[k * ldb + j], C(i, j) = C[i * ldc + j].       */
/* ------------------------------------------------------------------------- */

static void kern_c(size_t mr, size_t nr, size_t K, const float *A, size_t rsa, size_t csa,
                   const float *B, size_t ldb, float *C, size_t ldc, int acc)
{
    float c[6][16];
    for (size_t r = 0; r < mr; r++)
        for (size_t j = 0; j < nr; j++)
            c[r][j] = acc ? C[r * ldc + j] : 0.0f;
    for (size_t k = 0; k < K; k++) {
        const float *b = B + k * ldb;
        for (size_t r = 0; r < mr; r++) {
            float a = A[r * rsa + k * csa];
            for (size_t j = 0; j < nr; j++)
                c[r][j] += a * b[j];
        }
    }
    for (size_t r = 0; r < mr; r++)
        for (size_t j = 0; j < nr; j++)
            C[r * ldc + j] = c[r][j];
}

#ifdef WINO_HAVE_AVX2
/* Accumulators as named variables (an array of __m256 is kept in memory by GCC). */
#define WK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
__attribute__((always_inline, target("avx2,fma"))) static inline void
kern_avx2_t(const int MR, const int NV, size_t K, const float *A, size_t rsa, size_t csa,
            const float *B, size_t ldb, float *C, size_t ldc, int acc)
{
#define WK_DECL(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
    WK_ROWS(WK_DECL)
#undef WK_DECL
    if (acc) {
#define WK_LOAD(r)                                                                      \
        if (MR > r) {                                                                   \
            c##r##0 = _mm256_loadu_ps(C + (size_t)r * ldc);                             \
            if (NV > 1)                                                                 \
                c##r##1 = _mm256_loadu_ps(C + (size_t)r * ldc + 8);                     \
        }
        WK_ROWS(WK_LOAD)
#undef WK_LOAD
    }
    for (size_t k = 0; k < K; k++) {
        __m256 b0 = _mm256_loadu_ps(B);
        __m256 b1 = NV > 1 ? _mm256_loadu_ps(B + 8) : b0;
#define WK_FMA(r)                                                                       \
        if (MR > r) {                                                                   \
            __m256 a##r = _mm256_broadcast_ss(A + (size_t)r * rsa);                     \
            c##r##0 = _mm256_fmadd_ps(a##r, b0, c##r##0);                               \
            if (NV > 1)                                                                 \
                c##r##1 = _mm256_fmadd_ps(a##r, b1, c##r##1);                           \
        }
        WK_ROWS(WK_FMA)
#undef WK_FMA
        A += csa;
        B += ldb;
    }
#define WK_STORE(r)                                                                     \
    if (MR > r) {                                                                       \
        _mm256_storeu_ps(C + (size_t)r * ldc, c##r##0);                                 \
        if (NV > 1)                                                                     \
            _mm256_storeu_ps(C + (size_t)r * ldc + 8, c##r##1);                         \
    }
    WK_ROWS(WK_STORE)
#undef WK_STORE
}
#undef WK_ROWS

__attribute__((target("avx2,fma"))) static void kern_avx2(size_t mr, size_t nr, size_t K,
                                                         const float *A, size_t rsa, size_t csa,
                                                         const float *B, size_t ldb, float *C,
                                                         size_t ldc, int acc)
{
#define WINO_KCASE(m)                                                                   \
    case m:                                                                             \
        if (nr == 16)                                                                   \
            kern_avx2_t(m, 2, K, A, rsa, csa, B, ldb, C, ldc, acc);                     \
        else                                                                            \
            kern_avx2_t(m, 1, K, A, rsa, csa, B, ldb, C, ldc, acc);                     \
        break;
    switch (mr) {
        WINO_KCASE(1)
        WINO_KCASE(2)
        WINO_KCASE(3)
        WINO_KCASE(4)
        WINO_KCASE(5)
        WINO_KCASE(6)
    default: break;
    }
#undef WINO_KCASE
}
#endif

/* C (m x n) (+)= A (m x K) B (K x n), n a multiple of 8. B packed: panels of 16 columns (the
 * last one 8 when n % 16 == 8), each K x width row-major, panel p at B + 16 p K; else B
 * row-major with leading dimension ldb. */
WINO_INLINE void gemm(int avx, size_t m, size_t n, size_t K, const float *A, size_t rsa, size_t csa,
                      const float *B, int packed, size_t ldb, float *C, size_t ldc, int acc)
{
    for (size_t j0 = 0; j0 < n; j0 += 16) {
        size_t nr = n - j0 < 16 ? n - j0 : 16;
        const float *Bp = packed ? B + j0 * K : B + j0;
        size_t lb = packed ? nr : ldb;
        for (size_t i0 = 0; i0 < m; i0 += 6) {
            size_t mr = m - i0 < 6 ? m - i0 : 6;
#ifdef WINO_HAVE_AVX2
            if (avx) {
                kern_avx2(mr, nr, K, A + i0 * rsa, rsa, csa, Bp, lb, C + i0 * ldc + j0, ldc, acc);
                continue;
            }
#endif
            (void)avx;
            kern_c(mr, nr, K, A + i0 * rsa, rsa, csa, Bp, lb, C + i0 * ldc + j0, ldc, acc);
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Weights                                                                   */
/* ------------------------------------------------------------------------- */

size_t hs_wino_u_size(size_t cin, size_t cout)
{
    return 36 * cin * cout;
}

/* U[xi] = G g G^T for every (cout, cin) pair, packed for gemm: the GEMM's inner dimension k
 * is the convolution's input channel, its column j the output channel. bwd: the kernel of
 * the data gradient, g'[ci][co] = rot180(w[co][ci]) (k = co, j = ci). */
static void weights_impl(float *U, const float *w, size_t cin, size_t cout, int bwd)
{
    size_t K = bwd ? cout : cin, Nc = bwd ? cin : cout;
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(max_threads()) if (cin * cout >= 1024)
#endif
    for (ptrdiff_t cop = 0; cop < (ptrdiff_t)cout; cop++)
        for (size_t ci = 0; ci < cin; ci++) {
            size_t co = (size_t)cop;
            const float *g = w + (co * cin + ci) * 9;
            double gg[3][3], t[6][3];
            for (size_t a = 0; a < 3; a++)
                for (size_t b = 0; b < 3; b++)
                    gg[a][b] = bwd ? g[(2 - a) * 3 + 2 - b] : g[a * 3 + b];
            for (size_t i = 0; i < 6; i++)
                for (size_t c = 0; c < 3; c++)
                    t[i][c] = G[i][0] * gg[0][c] + G[i][1] * gg[1][c] + G[i][2] * gg[2][c];
            size_t k = bwd ? co : ci, j = bwd ? ci : co;
            size_t p0 = j / 16 * 16, nr = Nc - p0 < 16 ? Nc - p0 : 16;
            size_t off = p0 * K + k * nr + (j - p0);
            for (size_t i = 0; i < 6; i++)
                for (size_t jj = 0; jj < 6; jj++)
                    U[(i * 6 + jj) * K * Nc + off] =
                        (float)(t[i][0] * G[jj][0] + t[i][1] * G[jj][1] + t[i][2] * G[jj][2]);
        }
}

void hs_wino_weights_fwd(float *U, const float *w, size_t cin, size_t cout)
{
    weights_impl(U, w, cin, cout, 0);
}

void hs_wino_weights_bwd_data(float *U, const float *w, size_t cin, size_t cout)
{
    weights_impl(U, w, cin, cout, 1);
}

/* ------------------------------------------------------------------------- */
/* Tiles                                                                     */
/* ------------------------------------------------------------------------- */

typedef struct shape {
    size_t N, cin, cout, H, W;
    size_t th, tw; /* tiles per column and row: ceil(H / 4), ceil(W / 4) */
} shape;

static shape make_shape(size_t N, size_t cin, size_t cout, size_t H, size_t W)
{
    shape s = {N, cin, cout, H, W, (H + 3) / 4, (W + 3) / 4};
    return s;
}

/* The 6x6 input patch of tile (ty, tx) from the plane of one channel block (zero outside). */
WINO_INLINE void load_patch(v8f *d, const float *plane, size_t H, size_t W, size_t ty, size_t tx)
{
    const v8f zero = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t r = 0; r < 6; r++) {
        size_t h = 4 * ty + r; /* input row h - 1 */
        if (h < 1 || h > H) {
            for (size_t c = 0; c < 6; c++)
                d[6 * r + c] = zero;
            continue;
        }
        const float *row = plane + (h - 1) * W * 8;
        for (size_t c = 0; c < 6; c++) {
            size_t w = 4 * tx + c;
            if (w < 1 || w > W)
                d[6 * r + c] = zero;
            else
                V8_LOAD(d[6 * r + c], row + (w - 1) * 8);
        }
    }
}

/* One chunk of the forward: tiles t0 .. t0 + nt - 1 (global numbering n, ty, tx). */
WINO_INLINE void fwd_chunk(int avx, const shape *s, float *y, const float *x, const float *U,
                           const float *b, size_t t0, size_t nt, size_t T, float *V, float *M)
{
    const size_t cin = s->cin, cout = s->cout, cbi = cin / 8, cbo = cout / 8;
    const size_t plane = s->H * s->W * 8, tpi = s->th * s->tw;
    v8f d[36], v[36];
    for (size_t i = 0; i < nt; i++) {
        size_t t = t0 + i, n = t / tpi, r = t % tpi, ty = r / s->tw, tx = r % s->tw;
        for (size_t cb = 0; cb < cbi; cb++) {
            load_patch(d, x + (n * cbi + cb) * plane, s->H, s->W, ty, tx);
            in_transform(v, d);
            for (size_t xi = 0; xi < 36; xi++)
                V8_STORE(V + (xi * T + i) * cin + cb * 8, v[xi]);
        }
    }
    for (size_t xi = 0; xi < 36; xi++)
        gemm(avx, nt, cout, cin, V + xi * T * cin, cin, 1, U + xi * cin * cout, 1, 0,
             M + xi * T * cout, cout, 0);
    for (size_t i = 0; i < nt; i++) {
        size_t t = t0 + i, n = t / tpi, r = t % tpi, ty = r / s->tw, tx = r % s->tw;
        for (size_t cb = 0; cb < cbo; cb++) {
            v8f o[16], bias = {0, 0, 0, 0, 0, 0, 0, 0};
            for (size_t xi = 0; xi < 36; xi++)
                V8_LOAD(v[xi], M + (xi * T + i) * cout + cb * 8);
            out_transform(o, v);
            if (b)
                V8_LOAD(bias, b + cb * 8);
            float *pl = y + (n * cbo + cb) * plane;
            for (size_t rr = 0; rr < 4; rr++) {
                size_t h = 4 * ty + rr;
                if (h >= s->H)
                    break;
                for (size_t c = 0; c < 4; c++) {
                    size_t w = 4 * tx + c;
                    if (w >= s->W)
                        break;
                    v8f val = o[4 * rr + c] + bias;
                    V8_STORE(pl + (h * s->W + w) * 8, val);
                }
            }
        }
    }
}

#ifdef WINO_HAVE_AVX2
__attribute__((target("avx2,fma"))) static void
fwd_chunk_avx2(const shape *s, float *y, const float *x, const float *U, const float *b, size_t t0,
               size_t nt, size_t T, float *V, float *M)
{
    fwd_chunk(1, s, y, x, U, b, t0, nt, T, V, M);
}
#endif

static void fwd_chunk_c(const shape *s, float *y, const float *x, const float *U, const float *b,
                        size_t t0, size_t nt, size_t T, float *V, float *M)
{
    fwd_chunk(0, s, y, x, U, b, t0, nt, T, V, M);
}

/* One chunk of the weight gradient: dU[xi] (cin x cout) += V[xi]^T Z[xi] over the chunk's
 * tiles, dbs (cout) += the chunk's dy. */
WINO_INLINE void bww_chunk(int avx, const shape *s, const float *x, const float *dy, size_t t0,
                           size_t nt, size_t T, float *V, float *Z, float *dU, float *dbs)
{
    const size_t cin = s->cin, cout = s->cout, cbi = cin / 8, cbo = cout / 8;
    const size_t plane = s->H * s->W * 8, tpi = s->th * s->tw;
    const v8f zero = {0, 0, 0, 0, 0, 0, 0, 0};
    v8f d[36], v[36], q[16];
    for (size_t i = 0; i < nt; i++) {
        size_t t = t0 + i, n = t / tpi, r = t % tpi, ty = r / s->tw, tx = r % s->tw;
        for (size_t cb = 0; cb < cbi; cb++) {
            load_patch(d, x + (n * cbi + cb) * plane, s->H, s->W, ty, tx);
            in_transform(v, d);
            for (size_t xi = 0; xi < 36; xi++)
                V8_STORE(V + (xi * T + i) * cin + cb * 8, v[xi]);
        }
        for (size_t cb = 0; cb < cbo; cb++) {
            const float *pl = dy + (n * cbo + cb) * plane;
            v8f sum = zero;
            for (size_t rr = 0; rr < 4; rr++)
                for (size_t c = 0; c < 4; c++) {
                    size_t h = 4 * ty + rr, w = 4 * tx + c;
                    if (h < s->H && w < s->W)
                        V8_LOAD(q[4 * rr + c], pl + (h * s->W + w) * 8);
                    else
                        q[4 * rr + c] = zero;
                    sum += q[4 * rr + c];
                }
            dy_transform(v, q);
            for (size_t xi = 0; xi < 36; xi++)
                V8_STORE(Z + (xi * T + i) * cout + cb * 8, v[xi]);
            v8f acc;
            V8_LOAD(acc, dbs + cb * 8);
            acc += sum;
            V8_STORE(dbs + cb * 8, acc);
        }
    }
    for (size_t xi = 0; xi < 36; xi++)
        gemm(avx, cin, cout, nt, V + xi * T * cin, 1, cin, Z + xi * T * cout, 0, cout,
             dU + xi * cin * cout, cout, 1);
}

#ifdef WINO_HAVE_AVX2
__attribute__((target("avx2,fma"))) static void bww_chunk_avx2(const shape *s, const float *x,
                                                              const float *dy, size_t t0,
                                                              size_t nt, size_t T, float *V,
                                                              float *Z, float *dU, float *dbs)
{
    bww_chunk(1, s, x, dy, t0, nt, T, V, Z, dU, dbs);
}
#endif

static void bww_chunk_c(const shape *s, const float *x, const float *dy, size_t t0, size_t nt,
                        size_t T, float *V, float *Z, float *dU, float *dbs)
{
    bww_chunk(0, s, x, dy, t0, nt, T, V, Z, dU, dbs);
}

/* ------------------------------------------------------------------------- */
/* Entry points                                                              */
/* ------------------------------------------------------------------------- */

static hs_status check_args(const char *what, size_t N, size_t cin, size_t cout, size_t H,
                            size_t W)
{
    if (cin == 0 || cout == 0 || cin % 8 || cout % 8)
        return hs_fail(HS_ERR_ARG, "Winograd %s: channels %zu -> %zu must be positive multiples of 8",
                       what, cin, cout);
    if (H == 0 || W == 0)
        return hs_fail(HS_ERR_ARG, "Winograd %s: empty image %zu x %zu", what, H, W);
    if (N > SIZE_MAX / 64 / (H * W) / (cin > cout ? cin : cout))
        return hs_fail(HS_ERR_SIZE, "Winograd %s: tensor too large", what);
    return HS_OK;
}

hs_status hs_wino_forward(float *y, const float *x, const float *U, const float *b, size_t N,
                          size_t cin, size_t cout, size_t H, size_t W, hs_wino_ws *ws)
{
    hs_status st = check_args("convolution", N, cin, cout, H, W);
    if (st || N == 0)
        return st;
    const shape s = make_shape(N, cin, cout, H, W);
    const size_t T = CHUNK_FWD, per = round16(36 * T * (cin + cout));
    const int nth = max_threads();
    if ((st = ws_reserve(ws, per * (size_t)nth)))
        return st;
    const size_t ntiles = N * s.th * s.tw, nchunks = (ntiles + T - 1) / T;
    const int avx = use_avx2();
    float *buf = ws->buf;
    (void)avx;
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(nth)
#endif
    for (ptrdiff_t c = 0; c < (ptrdiff_t)nchunks; c++) {
        float *V = buf + per * (size_t)thread_id(), *M = V + 36 * T * cin;
        size_t t0 = (size_t)c * T, nt = ntiles - t0 < T ? ntiles - t0 : T;
#ifdef WINO_HAVE_AVX2
        if (avx) {
            fwd_chunk_avx2(&s, y, x, U, b, t0, nt, T, V, M);
            continue;
        }
#endif
        fwd_chunk_c(&s, y, x, U, b, t0, nt, T, V, M);
    }
    return HS_OK;
}

hs_status hs_wino_backward_data(float *dx, const float *dy, const float *U, size_t N, size_t cin,
                                size_t cout, size_t H, size_t W, hs_wino_ws *ws)
{
    return hs_wino_forward(dx, dy, U, NULL, N, cout, cin, H, W, ws);
}

hs_status hs_wino_backward_weights(float *dw, float *db, const float *x, const float *dy,
                                   size_t N, size_t cin, size_t cout, size_t H, size_t W,
                                   hs_wino_ws *ws)
{
    hs_status st = check_args("weight gradient", N, cin, cout, H, W);
    if (st)
        return st;
    const shape s = make_shape(N, cin, cout, H, W);
    const size_t T = CHUNK_BWW, nu = 36 * cin * cout;
    const size_t per = round16(36 * T * (cin + cout)) + round16(nu) + round16(cout);
    const int nth = max_threads();
    if ((st = ws_reserve(ws, per * (size_t)nth)))
        return st;
    const size_t ntiles = N * s.th * s.tw;
    const int avx = use_avx2();
    float *buf = ws->buf;
    int used = 1;
    (void)avx;
#ifdef HS_HAVE_OPENMP
#pragma omp parallel num_threads(nth)
#endif
    {
        int tid = thread_id(), nt_team = 1;
#ifdef HS_HAVE_OPENMP
        nt_team = omp_get_num_threads();
#endif
        if (tid == 0)
            used = nt_team;
        float *V = buf + per * (size_t)tid, *Z = V + 36 * T * cin;
        float *dU = V + round16(36 * T * (cin + cout)), *dbs = dU + round16(nu);
        memset(dU, 0, nu * sizeof *dU);
        memset(dbs, 0, cout * sizeof *dbs);
        size_t lo = ntiles * (size_t)tid / (size_t)nt_team;
        size_t hi = ntiles * (size_t)(tid + 1) / (size_t)nt_team;
        for (size_t t0 = lo; t0 < hi; t0 += T) {
            size_t nt = hi - t0 < T ? hi - t0 : T;
#ifdef WINO_HAVE_AVX2
            if (avx) {
                bww_chunk_avx2(&s, x, dy, t0, nt, T, V, Z, dU, dbs);
                continue;
            }
#endif
            bww_chunk_c(&s, x, dy, t0, nt, T, V, Z, dU, dbs);
        }
    }
    /* the threads' partial sums in thread order, then dw = G^T dU G */
    float *dU0 = buf + round16(36 * T * (cin + cout));
    if (used > 1) {
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(nth)
#endif
        for (ptrdiff_t i = 0; i < (ptrdiff_t)nu; i++)
            for (int k = 1; k < used; k++)
                dU0[i] += dU0[per * (size_t)k + (size_t)i];
    }
    if (db)
        for (size_t co = 0; co < cout; co++) {
            double sum = 0;
            for (int k = 0; k < used; k++)
                sum += dU0[per * (size_t)k + round16(nu) + co];
            db[co] = (float)sum;
        }
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(nth) if (cin * cout >= 1024)
#endif
    for (ptrdiff_t cip = 0; cip < (ptrdiff_t)cin; cip++)
        for (size_t co = 0; co < cout; co++) {
            size_t ci = (size_t)cip;
            double u[6][6], t[3][6];
            for (size_t xi = 0; xi < 36; xi++)
                u[xi / 6][xi % 6] = dU0[xi * cin * cout + ci * cout + co];
            for (size_t a = 0; a < 3; a++)
                for (size_t j = 0; j < 6; j++) {
                    double acc = 0;
                    for (size_t i = 0; i < 6; i++)
                        acc += G[i][a] * u[i][j];
                    t[a][j] = acc;
                }
            float *g = dw + (co * cin + ci) * 9;
            for (size_t a = 0; a < 3; a++)
                for (size_t bb = 0; bb < 3; bb++) {
                    double acc = 0;
                    for (size_t j = 0; j < 6; j++)
                        acc += t[a][j] * G[j][bb];
                    g[a * 3 + bb] = (float)acc;
                }
        }
    return HS_OK;
}

/* ------------------------------------------------------------------------- */
/* Weight gradient of a convolution with one input channel (the first layer)   */
/* ------------------------------------------------------------------------- */

/* One output channel block over the batch: a[k] (k = 3 kh + kw) += dy * x(h + kh - 1,
 * w + kw - 1), a[9] += dy, with x zero-padded into xp ((H + 2) x (W + 2)); per-image float
 * sums, added up in double. MADD(acc, g, s): acc += g * s (s a scalar). */
#define CIN1_BODY(MADD)                                                                    \
    const size_t Wp = W + 2, cbo = cout / 8;                                               \
    const v8f zero = {0, 0, 0, 0, 0, 0, 0, 0};                                             \
    memset(xp, 0, (H + 2) * Wp * sizeof *xp);                                              \
    for (size_t n = 0; n < N; n++) {                                                       \
        for (size_t h = 0; h < H; h++)                                                     \
            memcpy(xp + (h + 1) * Wp + 1, x + (n * H + h) * W, W * sizeof *xp);            \
        const float *pl = dy + (n * cbo + cb) * H * W * 8;                                 \
        v8f a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero,   \
            a7 = zero, a8 = zero, a9 = zero;                                               \
        for (size_t h = 0; h < H; h++)                                                     \
            for (size_t w = 0; w < W; w++) {                                               \
                v8f g;                                                                     \
                V8_LOAD(g, pl + (h * W + w) * 8);                                          \
                const float *r0 = xp + h * Wp + w, *r1 = r0 + Wp, *r2 = r1 + Wp;           \
                MADD(a0, g, r0[0]);                                                        \
                MADD(a1, g, r0[1]);                                                        \
                MADD(a2, g, r0[2]);                                                        \
                MADD(a3, g, r1[0]);                                                        \
                MADD(a4, g, r1[1]);                                                        \
                MADD(a5, g, r1[2]);                                                        \
                MADD(a6, g, r2[0]);                                                        \
                MADD(a7, g, r2[1]);                                                        \
                MADD(a8, g, r2[2]);                                                        \
                a9 += g;                                                                   \
            }                                                                              \
        const v8f *av[10] = {&a0, &a1, &a2, &a3, &a4, &a5, &a6, &a7, &a8, &a9};            \
        for (size_t k = 0; k < 10; k++)                                                    \
            for (size_t l = 0; l < 8; l++)                                                 \
                acc[k][l] += (double)(*av[k])[l];                                          \
    }

#ifdef WINO_HAVE_AVX2
#define CIN1_FMA(c, g, s) ((c) = _mm256_fmadd_ps((g), _mm256_set1_ps(s), (c)))
__attribute__((target("avx2,fma"))) static void cin1_block_avx2(double acc[10][8], float *xp,
                                                               const float *x, const float *dy,
                                                               size_t N, size_t cout, size_t H,
                                                               size_t W, size_t cb)
{
    CIN1_BODY(CIN1_FMA)
}
#undef CIN1_FMA
#endif

#define CIN1_MUL_ADD(c, g, s) ((c) += (g) * (s))
static void cin1_block_c(double acc[10][8], float *xp, const float *x, const float *dy, size_t N,
                         size_t cout, size_t H, size_t W, size_t cb)
{
    CIN1_BODY(CIN1_MUL_ADD)
}
#undef CIN1_MUL_ADD
#undef CIN1_BODY

hs_status hs_wino_cin1_backward_weights(float *dw, float *db, const float *x, const float *dy,
                                        size_t N, size_t cout, size_t H, size_t W, hs_wino_ws *ws)
{
    hs_status st = check_args("weight gradient (one input channel)", N, 8, cout, H, W);
    if (st)
        return st;
    const size_t per = round16((H + 2) * (W + 2));
    const int nth = max_threads(), avx = use_avx2();
    if ((st = ws_reserve(ws, per * (size_t)nth)))
        return st;
    float *buf = ws->buf;
    (void)avx;
    /* threads over channel blocks: each block's sums are independent of the thread count */
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(nth)
#endif
    for (ptrdiff_t cb = 0; cb < (ptrdiff_t)(cout / 8); cb++) {
        double acc[10][8];
        memset(acc, 0, sizeof acc);
        float *xp = buf + per * (size_t)thread_id();
#ifdef WINO_HAVE_AVX2
        if (avx)
            cin1_block_avx2(acc, xp, x, dy, N, cout, H, W, (size_t)cb);
        else
#endif
            cin1_block_c(acc, xp, x, dy, N, cout, H, W, (size_t)cb);
        for (size_t l = 0; l < 8; l++) {
            size_t co = (size_t)cb * 8 + l;
            for (size_t k = 0; k < 9; k++)
                dw[co * 9 + k] = (float)acc[k][l];
            if (db)
                db[co] = (float)acc[9][l];
        }
    }
    return HS_OK;
}
