/* Shared by the libFuzzer harnesses: the fuzzed bytes as files the readers open by name, and
 * checks of what a reader returns. */
#ifndef HS_FUZZ_UTIL_H
#define HS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Files a harness can hold at once. */
#define HS_FUZZ_FILES 2

/* Replaces the content of file `slot` by data[0..size) and returns its path. The files are
 * in memory (memfd_create, opened through /proc/self/fd), so a run writes nothing to disk
 * and parallel fuzzers never share one. Aborts if the kernel refuses. */
const char *hs_fuzz_file(unsigned slot, const uint8_t *data, size_t size);

/* Two files' contents from one input: the first two bytes (little-endian) give the length
 * of the first part (clamped to what follows), the rest is the second part. */
typedef struct hs_fuzz_parts {
    const uint8_t *a, *b;
    size_t na, nb;
} hs_fuzz_parts;
hs_fuzz_parts hs_fuzz_split(const uint8_t *data, size_t size);

/* Forgets the previous message, so a harness can check that a failure recorded one. */
void hs_fuzz_clear_error(void);
/* 1 if hs_last_error() holds a message. */
int hs_fuzz_has_error(void);

/* A reader broke its contract: libFuzzer records the input as a crash. */
#define HS_FUZZ_CHECK(cond)                                                                 \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);        \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

#endif
