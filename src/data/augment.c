/* The paper's training-time augmentation and the normalization of every batch:
 * RandomCrop(size, padding=pad, padding_mode='reflect') -> RandomHorizontalFlip(0.5) ->
 * ToTensor -> Normalize(mean, std), with the random choices of image i in epoch e drawn from
 * the splitmix64 stream keyed by (seed, e, i) (data/rng.h). */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include "data/data_internal.h"
#include "data/rng.h"
#include "util/error.h"

hs_status hs_data_norm(float *mean, float *std, size_t *channels, size_t *pad, hs_data_kind kind)
{
    if (!mean || !std || !channels || !pad)
        return hs_fail(HS_ERR_NULL, "hs_data_norm: NULL argument");
    switch (kind) {
    case HS_DATA_FASHION_MNIST:
        mean[0] = 0.2860f;
        std[0] = 0.3530f;
        *channels = 1;
        *pad = 3;
        return HS_OK;
    case HS_DATA_MNIST:
        mean[0] = 0.1307f;
        std[0] = 0.3081f;
        *channels = 1;
        *pad = 3;
        return HS_OK;
    case HS_DATA_CIFAR10:
        mean[0] = 0.4914f;
        mean[1] = 0.4822f;
        mean[2] = 0.4465f;
        std[0] = 0.247f;
        std[1] = 0.243f;
        std[2] = 0.261f;
        *channels = 3;
        *pad = 4;
        return HS_OK;
    }
    return hs_fail(HS_ERR_ARG, "unknown data set kind %d", (int)kind);
}

/* Index of padded coordinate k (in [-n+1, 2n-2]) after reflection without edge repeat. */
static size_t reflect(ptrdiff_t k, size_t n)
{
    if (k < 0)
        k = -k;
    if (k >= (ptrdiff_t)n)
        k = 2 * ((ptrdiff_t)n - 1) - k;
    return (size_t)k;
}

/* out = lut[c][v] with the crop / flip mapping; arguments already checked. */
static void augment_one(float *out, const uint8_t *src, size_t c, size_t h, size_t w, size_t pad,
                        size_t top, size_t left, int flip, const float *lut /* (c x 256) */)
{
    for (size_t ch = 0; ch < c; ch++) {
        const uint8_t *plane = src + ch * h * w;
        const float *l = lut + 256 * ch;
        float *o = out + ch * h * w;
        for (size_t y = 0; y < h; y++) {
            const uint8_t *row = plane + reflect((ptrdiff_t)(y + top) - (ptrdiff_t)pad, h) * w;
            for (size_t x = 0; x < w; x++) {
                size_t xs = flip ? w - 1 - x : x;
                o[y * w + x] = l[row[reflect((ptrdiff_t)(xs + left) - (ptrdiff_t)pad, w)]];
            }
        }
    }
}

static hs_status make_lut(float *lut, const float *mean, const float *std, size_t c)
{
    for (size_t ch = 0; ch < c; ch++) {
        if (!(std[ch] > 0.0f) || !(mean[ch] == mean[ch]) || mean[ch] - mean[ch] != 0.0f)
            return hs_fail(HS_ERR_ARG, "channel %zu: mean %g / std %g invalid (std must be > 0, both finite)",
                           ch, (double)mean[ch], (double)std[ch]);
        for (int v = 0; v < 256; v++)
            lut[256 * ch + (size_t)v] = ((float)v / 255.0f - mean[ch]) / std[ch];
    }
    return HS_OK;
}

hs_status hs_augment_image(float *out, const uint8_t *src, size_t c, size_t h, size_t w, size_t pad,
                           size_t top, size_t left, int flip, const float *mean, const float *std)
{
    if (!out || !src || !mean || !std)
        return hs_fail(HS_ERR_NULL, "hs_augment_image: NULL argument");
    if (c == 0 || c > 3 || h == 0 || w == 0 || h > HS_DATA_MAX_SIDE || w > HS_DATA_MAX_SIDE)
        return hs_fail(HS_ERR_SIZE, "hs_augment_image: image %zux%zux%zu (channels must be 1..3, "
                       "sides 1..%zu)", c, h, w, HS_DATA_MAX_SIDE);
    if (pad >= h || pad >= w)
        return hs_fail(HS_ERR_SIZE, "hs_augment_image: reflect padding %zu needs an image larger "
                       "than %zu pixels per side, not %zux%zu", pad, pad, h, w);
    if (top > 2 * pad || left > 2 * pad)
        return hs_fail(HS_ERR_ARG, "hs_augment_image: crop offset (%zu, %zu) outside [0, %zu]",
                       top, left, 2 * pad);
    float lut[3 * 256];
    hs_status st = make_lut(lut, mean, std, c);
    if (st)
        return st;
    augment_one(out, src, c, h, w, pad, top, left, flip, lut);
    return HS_OK;
}

void hs_augment_draw(size_t *top, size_t *left, int *flip, size_t pad, uint64_t seed,
                     uint64_t epoch, uint64_t index)
{
    hs_rng r = hs_rng_make(hs_rng_key(seed, HS_RNG_DOMAIN_AUGMENT, epoch, index));
    size_t t = (size_t)hs_rng_below(&r, 2 * (uint64_t)pad + 1);
    size_t l = (size_t)hs_rng_below(&r, 2 * (uint64_t)pad + 1);
    int f = (int)(hs_rng_next(&r) >> 63);
    if (top)
        *top = t;
    if (left)
        *left = l;
    if (flip)
        *flip = f;
}

hs_status hs_make_batch(float *x, int32_t *y, const hs_dataset *d, hs_data_kind kind,
                        const size_t *idx, size_t B, int augment, uint64_t seed, uint64_t epoch)
{
    if (!x || !d || !idx || !d->pixels || !d->labels)
        return hs_fail(HS_ERR_NULL, "hs_make_batch: NULL argument");
    float mean[3], std[3];
    size_t channels, pad;
    hs_status st = hs_data_norm(mean, std, &channels, &pad, kind);
    if (st)
        return st;
    if (d->channels != channels)
        return hs_fail(HS_ERR_ARG, "hs_make_batch: %s images have %zu channel%s, the data set has %zu",
                       hs_data_kind_name(kind), channels, channels == 1 ? "" : "s", d->channels);
    size_t h = d->height, w = d->width, per = channels * h * w;
    if (h == 0 || w == 0 || h > HS_DATA_MAX_SIDE || w > HS_DATA_MAX_SIDE)
        return hs_fail(HS_ERR_SIZE, "hs_make_batch: image size %zux%zu", h, w);
    if (!augment)
        pad = 0;
    if (pad >= h || pad >= w)
        return hs_fail(HS_ERR_SIZE, "hs_make_batch: reflect padding %zu needs images larger than "
                       "%zu pixels per side, not %zux%zu", pad, pad, h, w);
    for (size_t i = 0; i < B; i++)
        if (idx[i] >= d->count)
            return hs_fail(HS_ERR_SIZE, "hs_make_batch: idx[%zu] = %zu is not below the image count %zu",
                           i, idx[i], d->count);
    float lut[3 * 256];
    st = make_lut(lut, mean, std, channels);
    if (st)
        return st;
    /* Serial on purpose: about 1.5-3 ns per pixel (docs/data.md), far below the cost of the
     * network on the same batch, and a parallel region here measured slower on a busy 2-core
     * machine. Each image depends only on (seed, epoch, idx[i]) either way. */
    for (size_t i = 0; i < B; i++) {
        size_t top = 0, left = 0;
        int flip = 0;
        if (augment)
            hs_augment_draw(&top, &left, &flip, pad, seed, epoch, idx[i]);
        augment_one(x + i * per, d->pixels + idx[i] * per, channels, h, w, pad, top, left, flip, lut);
    }
    if (y)
        for (size_t i = 0; i < B; i++)
            y[i] = d->labels[idx[i]];
    return HS_OK;
}
