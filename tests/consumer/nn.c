/* The nn layer: the paper's network (oneDNN), small, one forward pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <hypersimplex/nn.h>

int main(void)
{
    hs_net_shape shape = hs_net_shape_paper(1, 28, 28, 10, 8);
    shape.hidden = 16;
    hs_net *net = NULL;
    float *x = calloc(2 * 28 * 28, sizeof *x), logits[20];
    hs_status st = x ? hs_net_create(&net, &shape) : HS_ERR_NOMEM;
    if (!st)
        st = hs_net_init(net, 1);
    if (!st)
        st = hs_net_forward(net, logits, x, 2, 0);
    if (st) {
        fprintf(stderr, "nn: %s\n", hs_last_error());
        return 1;
    }
    int finite = 1;
    for (int i = 0; i < 20; i++)
        finite &= isfinite(logits[i]) != 0;
    printf("nn: %zu parameters, logits %s\n", hs_net_param_count(net), finite ? "finite" : "NOT FINITE");
    hs_net_free(net);
    free(x);
    return finite ? 0 : 1;
}
