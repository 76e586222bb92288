/* Internal: the protocol (spec.c) as the plan (plan.c) reads it. */
#ifndef HS_SWEEP_INTERNAL_H
#define HS_SWEEP_INTERNAL_H

#include <stddef.h>

#include "hypersimplex/sweep.h"

#define SWEEP_MAX_ITEMS 64 /* entries of one list */
#define SWEEP_MAX_SETS 32  /* set options */
#define SWEEP_MAX_VARY 8   /* vary axes */

typedef struct sweep_list {
    size_t n;
    char *v[SWEEP_MAX_ITEMS];
} sweep_list;

typedef struct sweep_kv {
    char *key;
    char *value; /* NULL: a flag */
} sweep_kv;

typedef struct sweep_axis {
    char *key;
    sweep_list values;
} sweep_axis;

/* Every string is owned by the string pool, freed with the spec. */
typedef struct sweep_pool {
    char **s;
    size_t n, cap;
} sweep_pool;

struct hs_sweep_spec {
    sweep_pool pool;
    hs_sweep_option_arity arity;
    void *arity_user;
    sweep_list datasets, losses, batches, seeds;
    long epochs;
    size_t n_sets;
    sweep_kv sets[SWEEP_MAX_SETS];
    size_t n_vary;
    sweep_axis vary[SWEEP_MAX_VARY];
    sweep_list hs_policies; /* vary k-policy: the k policies of the plain HyperSimplex losses */
    int hs_policies_preset; /* ... given by a preset (no error if no loss takes them) */
};

/* A copy of text owned by the pool, or NULL (HS_ERR_NOMEM recorded). */
char *sweep_pool_dup(sweep_pool *p, const char *text);
void sweep_pool_free(sweep_pool *p);

#endif
