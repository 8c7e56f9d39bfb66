/* The `strata` binary: parse the configuration (defaults, --config file,
 * --set overrides), then run the broker until SIGTERM or SIGINT. */
#include "broker/brk.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    brk_config_t cfg;
    char err[512];
    int rc;

    if (brk_config_defaults(&cfg) != 0) {
        fprintf(stderr, "strata: out of memory\n");
        return 1;
    }
    rc = brk_config_parse_args(&cfg, argc, argv, err, sizeof(err));
    if (rc != 0) {
        brk_config_fini(&cfg);
        if (rc > 0)
            return 0;
        fprintf(stderr, "strata: %s\n", err);
        return 2;
    }
    rc = brk_run(&cfg);
    brk_config_fini(&cfg);
    return rc == 0 ? 0 : 1;
}
