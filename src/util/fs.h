/* Internal: small file-system and clock helpers shared by every layer and the CLI. */
#ifndef HS_UTIL_FS_H
#define HS_UTIL_FS_H

#include <stddef.h>

#include "hypersimplex.h"

/* "dir/name" in a malloc'ed string (no second '/' when dir ends with one), or NULL with
 * HS_ERR_NOMEM recorded. */
char *hs_path_join(const char *dir, const char *name);

/* 1 if path exists (anything, following links), else 0. */
int hs_path_exists(const char *path);
/* 1 if path names a regular file (or a link to one), else 0. */
int hs_path_is_file(const char *path);

/* Creates dir and its missing parents (like mkdir -p, mode 0777 & ~umask). An existing
 * directory is fine; an existing non-directory fails. HS_ERR_IO naming the component that
 * could not be created. */
hs_status hs_mkdirs(const char *dir);

/* Seconds of a monotonic clock (for durations only). */
double hs_now(void);

#endif
