/* librdkafka's in-memory mock cluster as a standalone process, so that
 * strata-bench can be measured against the same reference broker as
 * rdkafka_performance (bench/run.sh builds this with librdkafka-dev; it is
 * not part of the CMake build, which does not depend on librdkafka).
 *
 *   mock_broker [brokers]   prints "host:port[,...]" on one line, then
 *                           serves until SIGTERM/SIGINT */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    char errstr[256];
    int brokers = argc > 1 ? atoi(argv[1]) : 1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;

    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "mock_broker: %s\n", errstr);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, brokers > 0 ? brokers : 1);
    if (!mc) {
        fprintf(stderr, "mock_broker: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stop)
        pause();
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
