/* The sweep layer: the plan of the `small` preset (no file is read or written). */
#include <stdio.h>
#include <string.h>

#include <hypersimplex/sweep.h>

/* Every training option takes a value here: enough for the preset's settings. */
static int arity(const char *key, void *user)
{
    (void)key;
    (void)user;
    return 1;
}

int main(void)
{
    hs_sweep_spec *spec = NULL;
    hs_sweep_plan plan;
    if (hs_sweep_spec_new(&spec, arity, NULL) || hs_sweep_spec_set(spec, "preset", "small", NULL) ||
        hs_sweep_plan_build(&plan, spec, "/tmp/consumer-sweep")) {
        fprintf(stderr, "sweep: %s\n", hs_last_error());
        hs_sweep_spec_free(spec);
        return 1;
    }
    printf("sweep: %zu runs, the first %s\n", plan.n_runs, plan.runs[0].id);
    int ok = plan.n_runs == 36 && !strcmp(plan.runs[0].id, "fashion-mnist_cross_entropy_b32_s0");
    hs_sweep_plan_free(&plan);
    hs_sweep_spec_free(spec);
    return ok ? 0 : 1;
}
