/* The train layer: a configuration that the trainer rejects with a message naming the field. */
#include <stdio.h>
#include <string.h>

#include <hypersimplex/train.h>

int main(void)
{
    hs_train_config c = hs_train_config_default();
    c.out_dir = "/nonexistent/hs_consumer";
    c.epochs = 0;
    hs_train_result r;
    hs_status st = hs_train_run(&r, &c, NULL, NULL);
    printf("train: epochs = 0 -> %s: %s\n", hs_status_string(st), hs_last_error());
    return st == HS_ERR_SIZE && strstr(hs_last_error(), "epochs") ? 0 : 1;
}
