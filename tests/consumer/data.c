/* The data layer: a tiny IDX data set written gzip-compressed (zlib) and read back. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hypersimplex/data.h>

int main(void)
{
    char dir[] = "/tmp/hs_consumer_data_XXXXXX", images[64], labels[64];
    if (!mkdtemp(dir))
        return 1;
    snprintf(images, sizeof images, "%s/images.gz", dir);
    snprintf(labels, sizeof labels, "%s/labels.gz", dir);
    uint8_t pixels[3 * 4 * 4];
    int32_t y[3] = {0, 1, 2};
    for (size_t i = 0; i < sizeof pixels; i++)
        pixels[i] = (uint8_t)(7 * i);
    hs_dataset d = {3, 1, 4, 4, 3, pixels, y}, back = {0};
    hs_status st = hs_idx_write(images, labels, &d, 1);
    if (!st)
        st = hs_idx_load(&back, images, labels, 3);
    int same = !st && back.count == 3 && !memcmp(back.pixels, pixels, sizeof pixels) &&
               !memcmp(back.labels, y, sizeof y);
    if (st)
        fprintf(stderr, "data: %s\n", hs_last_error());
    hs_dataset_free(&back);
    remove(images);
    remove(labels);
    rmdir(dir);
    hs_data_kind k;
    if (hs_data_kind_parse(&k, "fashion-mnist") != HS_OK)
        return 1;
    printf("data: %s, gzip IDX round trip %s\n", hs_data_kind_name(k), same ? "ok" : "FAILED");
    return same ? 0 : 1;
}
