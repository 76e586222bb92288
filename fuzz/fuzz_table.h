/* The checks both table harnesses make on what hs_table_read returns. */
#ifndef HS_FUZZ_TABLE_H
#define HS_FUZZ_TABLE_H

#include "hypersimplex/gbrt.h"

/* Reads the input as a table of `format` and checks the result's invariants. */
void hs_fuzz_table(const uint8_t *data, size_t size, hs_table_format format);

#endif
