/*
 * hypersimplex data layer: image classification data sets (Fashion-MNIST, MNIST, CIFAR-10),
 * strictly validated readers, a stratified validation split, deterministic shuffles and
 * the paper's augmentation (random crop with reflect padding, horizontal flip) followed by
 * per-channel normalization.
 *
 * Determinism: every random choice comes from a counter-based generator (splitmix64
 * finalizer over a key built from seed, epoch and image index), so results do not depend
 * on the number of threads or on where a run was resumed. See docs/data.md.
 */
#ifndef HYPERSIMPLEX_DATA_H
#define HYPERSIMPLEX_DATA_H

#include "hypersimplex.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hs_data_kind {
    HS_DATA_FASHION_MNIST = 0,
    HS_DATA_MNIST = 1,
    HS_DATA_CIFAR10 = 2
} hs_data_kind;

typedef struct hs_dataset {
    size_t count, channels, height, width, classes;
    uint8_t *pixels;   /* (count x channels x height x width), raw 0..255, NCHW per image */
    int32_t *labels;   /* (count), each in [0, classes) */
} hs_dataset;

/* "fashion-mnist", "mnist", "cifar10" (also accepted: "fashion_mnist", "cifar-10").
 * HS_ERR_NULL, HS_ERR_ARG for an unknown name. */
HS_API hs_status hs_data_kind_parse(hs_data_kind *out, const char *name);

/* Canonical name ("fashion-mnist", "mnist", "cifar10"); "unknown" for other values. */
HS_API const char *hs_data_kind_name(hs_data_kind kind);

/* Default directory of a data set (never NULL):
 *   fashion-mnist  /usr/share/datasets/fashion-mnist  (Debian package dataset-fashion-mnist)
 *   mnist          /usr/share/datasets/mnist
 *   cifar10        /usr/share/datasets/cifar10        (not packaged: place the files there
 *                                                      or pass another directory) */
HS_API const char *hs_data_default_dir(hs_data_kind kind);

/* Loads the train and test sets found in dir (NULL = hs_data_default_dir(kind)).
 *   (fashion-)mnist: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
 *     t10k-labels-idx1-ubyte, each either gzip-compressed (name + ".gz") or raw; the raw name
 *     with '.' instead of the last '-' (train-images.idx3-ubyte) is accepted too.
 *   cifar10: data_batch_1.bin .. data_batch_5.bin and test_batch.bin in dir or in
 *     dir/cifar-10-batches-bin.
 * On success both are filled (free with hs_dataset_free); on error both are left empty
 * ({0}) and hs_last_error() names the file, the offset or field and the problem.
 * Errors: HS_ERR_NULL, HS_ERR_ARG (kind), HS_ERR_IO (missing/unreadable file),
 * HS_ERR_FORMAT (bad content, incl. absurd dimensions in a header), HS_ERR_NOMEM. */
HS_API hs_status hs_dataset_load(hs_dataset *train, hs_dataset *test, hs_data_kind kind,
                                 const char *dir);

/* Frees the arrays and resets *d to {0}. NULL is allowed. */
HS_API void hs_dataset_free(hs_dataset *d);

/* Reads one IDX file pair: images (magic 0x00000803: unsigned byte, 3 dims count x rows x
 * cols) and labels (magic 0x00000801, count), each gzip or raw (detected from the content).
 * Labels must lie in [0, classes). The result has channels = 1. */
HS_API hs_status hs_idx_load(hs_dataset *out, const char *images_path, const char *labels_path,
                             size_t classes);

/* Reads CIFAR-10 binary batch files (records of 1 label byte + 3072 pixel bytes, R then G
 * then B planes, 32x32 row-major) and concatenates them. Each file must hold a whole number
 * of records, at least 1 and at most max_records_per_file (0 = 10000, the official size).
 * Labels must be in [0, 10). */
HS_API hs_status hs_cifar10_load_files(hs_dataset *out, const char *const *paths, size_t npaths,
                                       size_t max_records_per_file);

/* Writers, used by tests and to make small data sets (written atomically). */
HS_API hs_status hs_idx_write(const char *images_path, const char *labels_path,
                              const hs_dataset *d, int gzip);
HS_API hs_status hs_cifar10_write(const char *path, const hs_dataset *d);

/* Replaces d by a stratified subsample of `count` images chosen deterministically from seed
 * (per class as close to d's class proportions as possible, largest remainders first), in
 * their original order. count = d->count leaves d unchanged. count = 0 and count > d->count
 * (more images than d holds) are HS_ERR_SIZE. */
HS_API hs_status hs_dataset_subset(hs_dataset *d, size_t count, uint64_t seed);

/* Keeps only the first `count` images (count >= d->count leaves d unchanged). */
HS_API hs_status hs_dataset_head(hs_dataset *d, size_t count);

/* Stratified split of [0, d->count) into train and validation index lists, deterministic
 * in seed. train_idx and val_idx must have room for d->count entries each. The validation
 * set has round(val_fraction * count) images, spread over the classes in proportion to
 * their sizes (largest remainders); within a class the images are drawn at random. Both
 * lists are returned in increasing order. val_fraction in [0, 1); 0 gives an empty
 * validation set. Errors: HS_ERR_NULL, HS_ERR_ARG (val_fraction), HS_ERR_LABEL, HS_ERR_NOMEM. */
HS_API hs_status hs_split_stratified(size_t *train_idx, size_t *n_train, size_t *val_idx,
                                     size_t *n_val, const hs_dataset *d, double val_fraction,
                                     uint64_t seed);

/* Deterministic shuffle of idx (n) for an epoch (Fisher-Yates driven by a generator keyed
 * by (seed, epoch)); the same (seed, epoch) always gives the same permutation. */
HS_API void hs_shuffle_indices(size_t *idx, size_t n, uint64_t seed, uint64_t epoch);

/* Normalization constants of a kind: per-channel mean and std (on the [0,1] scale) and the
 * crop padding. Writes channels entries into mean and std (room for 3). */
HS_API hs_status hs_data_norm(float *mean /* (3) */, float *std /* (3) */, size_t *channels,
                              size_t *pad, hs_data_kind kind);

/* One image through the augmentation: out(c, y, x) = (v / 255 - mean[c]) / std[c] with
 * v = src(c, r(y + top - pad), r(x' + left - pad)), x' = flip ? w - 1 - x : x, r the
 * reflection without edge repeat (torchvision RandomCrop(padding_mode='reflect')).
 * top, left in [0, 2 pad]; pad < h and pad < w. With pad = top = left = 0 and flip = 0 this
 * is plain normalization. */
HS_API hs_status hs_augment_image(float *out /* (c x h x w) */, const uint8_t *src /* (c x h x w) */,
                                  size_t c, size_t h, size_t w, size_t pad, size_t top,
                                  size_t left, int flip, const float *mean /* (c) */,
                                  const float *std /* (c) */);

/* The crop offsets and flip that hs_make_batch uses for image `index` in `epoch`. */
HS_API void hs_augment_draw(size_t *top, size_t *left, int *flip, size_t pad, uint64_t seed,
                            uint64_t epoch, uint64_t index);

/* Normalized float batch (B x C x H x W) and labels (B) for images idx[0..B). If augment:
 * random crop with reflect padding (3 px for (fashion-)mnist, 4 px for cifar10) and
 * horizontal flip with p = 0.5, drawn from a generator keyed by (seed, epoch, idx[i]) so
 * results do not depend on threads or on where a run was resumed. Then per-channel
 * normalization (fashion-mnist mean 0.2860 std 0.3530; mnist 0.1307/0.3081; cifar10 mean
 * .4914/.4822/.4465 std .247/.243/.261). d->channels must match the kind.
 * Errors: HS_ERR_NULL, HS_ERR_ARG (kind, channel mismatch), HS_ERR_SIZE (image smaller than
 * the padding, idx[i] >= d->count). */
HS_API hs_status hs_make_batch(float *x, int32_t *y, const hs_dataset *d, hs_data_kind kind,
                               const size_t *idx, size_t B, int augment, uint64_t seed,
                               uint64_t epoch);

/* Number of images of each class: counts (d->classes). HS_ERR_LABEL if a label is out of range. */
HS_API hs_status hs_dataset_class_counts(size_t *counts, const hs_dataset *d);

#ifdef __cplusplus
}
#endif

#endif /* HYPERSIMPLEX_DATA_H */
