/* strata-bench main: parse the options, run, print the summary (text or
 * JSON on stdout; progress on stderr), write the chart.
 *
 * Exit status: 0 for a clean run, 1 when the broker returned errors, the
 * target was not reached or the run could not start, 2 for bad arguments
 * — so scripts can tell a slow broker from a misspelt option. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench/sb.h"

int main(int argc, char **argv)
{
    sb_opts_t o;
    sb_result_t r;
    char err[256];
    int rc;

    rc = sb_args_parse(argc, argv, &o, err, sizeof(err));
    if (rc == 1) {
        sb_usage(stdout);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "strata-bench: %s\nTry 'strata-bench --help'.\n", err);
        return 2;
    }
    if (sb_run(&o, &r) < 0)
        return 1;
    if (o.json)
        sb_report_json(stdout, &r);
    else
        sb_report_text(stdout, &r);
    fflush(stdout);
    if (o.plot) {
        FILE *f = fopen(o.plot, "w");
        int wrc = f ? sb_report_svg(f, &r) : -errno;
        if (f && fclose(f) != 0 && wrc == 0)
            wrc = -errno;
        if (wrc < 0) {
            errno = -wrc;
            fprintf(stderr, "strata-bench: cannot write %s: %s\n", o.plot,
                    strerror(errno));
            sb_result_fini(&r);
            return 1;
        }
    }
    rc = r.ok ? 0 : 1;
    sb_result_fini(&r);
    return rc;
}
