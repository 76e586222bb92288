/* Internal: the data layer's random numbers.
 *
 * splitmix64 (Steele, Lea, Flood 2014): the stream with key k yields, for counter
 * i = 1, 2, ..., mix(k + i * 0x9e3779b97f4a7c15), where mix is the splitmix64 finalizer.
 * Keys are built by hashing the inputs (seed, a domain constant, epoch, image index) with the
 * same finalizer, so every image and epoch has its own stream, independent of the order in
 * which images are processed and of the number of threads. */
#ifndef HS_DATA_RNG_H
#define HS_DATA_RNG_H

#include <stdint.h>

#define HS_RNG_GOLDEN UINT64_C(0x9e3779b97f4a7c15)

/* Domain constants separate the uses of one seed. */
#define HS_RNG_DOMAIN_SPLIT   UINT64_C(0x73706c6974000001) /* validation split */
#define HS_RNG_DOMAIN_SHUFFLE UINT64_C(0x7368756666000002) /* epoch shuffles */
#define HS_RNG_DOMAIN_AUGMENT UINT64_C(0x6175676d00000003) /* crop / flip */
#define HS_RNG_DOMAIN_SUBSET  UINT64_C(0x7375627365000004) /* hs_dataset_subset */

static inline uint64_t hs_rng_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Key of the stream for (seed, domain, a, b). */
static inline uint64_t hs_rng_key(uint64_t seed, uint64_t domain, uint64_t a, uint64_t b)
{
    uint64_t k = hs_rng_mix(seed + HS_RNG_GOLDEN);
    k = hs_rng_mix(k ^ domain);
    k = hs_rng_mix(k ^ (a + HS_RNG_GOLDEN));
    return hs_rng_mix(k ^ (b + 2 * HS_RNG_GOLDEN));
}

typedef struct hs_rng {
    uint64_t state;
} hs_rng;

static inline hs_rng hs_rng_make(uint64_t key)
{
    hs_rng r = {key};
    return r;
}

static inline uint64_t hs_rng_next(hs_rng *r)
{
    r->state += HS_RNG_GOLDEN;
    return hs_rng_mix(r->state);
}

/* Uniform integer in [0, n), n >= 1, without modulo bias (rejects the top partial block). */
static inline uint64_t hs_rng_below(hs_rng *r, uint64_t n)
{
    uint64_t x, v;
    do {
        x = hs_rng_next(r);
        v = x % n;
    } while (x - v > UINT64_MAX - (n - 1));
    return v;
}

#endif
