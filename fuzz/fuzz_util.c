#define _GNU_SOURCE /* memfd_create */
#include "fuzz_util.h"

#include <sys/mman.h>
#include <unistd.h>

#include "hypersimplex.h"
#include "util/error.h"

static int fds[HS_FUZZ_FILES];
static char paths[HS_FUZZ_FILES][40];

const char *hs_fuzz_file(unsigned slot, const uint8_t *data, size_t size)
{
    if (slot >= HS_FUZZ_FILES)
        abort();
    if (!paths[slot][0]) {
        int fd = memfd_create("hs_fuzz", MFD_CLOEXEC);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        fds[slot] = fd;
        snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fd);
    }
    int fd = fds[slot];
    if (ftruncate(fd, 0) != 0) {
        perror("ftruncate");
        abort();
    }
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);
        if (w <= 0) {
            perror("pwrite");
            abort();
        }
        done += (size_t)w;
    }
    return paths[slot];
}

hs_fuzz_parts hs_fuzz_split(const uint8_t *data, size_t size)
{
    hs_fuzz_parts p = {data, data, 0, 0};
    if (size < 2)
        return p;
    size_t want = (size_t)data[0] | (size_t)data[1] << 8;
    size_t rest = size - 2;
    p.a = data + 2;
    p.na = want < rest ? want : rest;
    p.b = p.a + p.na;
    p.nb = rest - p.na;
    return p;
}

void hs_fuzz_clear_error(void)
{
    hs_fail(HS_OK, "%s", "");
}

int hs_fuzz_has_error(void)
{
    const char *m = hs_last_error();
    return m && m[0];
}
