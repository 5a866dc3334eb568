/*
 * mock_cluster: librdkafka's built-in mock Kafka cluster as a standalone process, for tests.
 * It is NOT a real broker: it speaks enough of the Kafka protocol (produce, fetch, metadata,
 * consumer groups with offset commits) for clients such as kafkajs, keeps everything in memory,
 * and listens on 127.0.0.1 only (each mock broker binds INADDR_LOOPBACK on an ephemeral port).
 *
 *   mock_cluster <brokers> <topic:partitions>...
 *
 * Creates the cluster and the topics (replication factor 1), prints one line
 * `BOOTSTRAP host:port,...` to stdout, then runs until stdin reaches EOF (the parent closed it or
 * died) or SIGTERM/SIGINT arrives, and destroys the cluster.
 *
 * Commands, one per line on stdin, each answered by one line on stdout:
 *   down <id>   rd_kafka_mock_broker_set_down: closes the broker's connections and refuses new
 *               ones (it keeps its partitions: no leader change), a broker outage
 *   up <id>     rd_kafka_mock_broker_set_up: accepts connections again
 * <id> is a broker id (1..brokers) or `all`. The answer is `OK <command>` or `ERR <command>: why`.
 *
 * Build: gcc -O2 -o mock_cluster mock_cluster.c $(pkg-config --cflags --libs rdkafka)
 *
 * Group timing (librdkafka 2.0.2, src/rdkafka_mock_cgrp.c; the header has no setter for any of it
 * and no configuration property reaches it):
 *  - the first member of an empty group waits a fixed 3000 ms (group.initial.rebalance.delay.ms)
 *    before the leader is elected;
 *  - any later rebalance (member joins, leaves or times out) waits session.timeout.ms - 1000 ms,
 *    with session.timeout.ms taken from the members' JoinGroup requests, so clients shorten it by
 *    asking for a short session timeout (the mock enforces no group.min.session.timeout.ms);
 *  - a Fetch that finds no data is answered after the full MaxWaitTime, even if data arrives
 *    meanwhile, so clients should ask for a short max wait.
 * Newer librdkafka (2.5+) adds rd_kafka_mock_group_initial_rebalance_delay_ms(); 2.0.2 lacks it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stopping = 0;

static void on_signal(int sig) {
        (void)sig;
        stopping = 1;
}

/* Runs one command line (see the header) and answers it on stdout. */
static void command(rd_kafka_mock_cluster_t *mcluster, char *line, int brokers) {
        char verb[16], who[16];
        int32_t id;
        rd_kafka_resp_err_t err;
        size_t len = strlen(line);

        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
                line[--len] = '\0';
        if (len == 0)
                return;
        if (sscanf(line, "%15s %15s", verb, who) != 2) {
                printf("ERR %s: expected <down|up> <id|all>\n", line);
                fflush(stdout);
                return;
        }
        if (!strcmp(who, "all"))
                id = -1;
        else {
                char *end;
                long n = strtol(who, &end, 10);
                if (*end || n < 1 || n > brokers) {
                        printf("ERR %s: no broker %s (1..%d or all)\n", line, who, brokers);
                        fflush(stdout);
                        return;
                }
                id = (int32_t)n;
        }
        if (!strcmp(verb, "down"))
                err = rd_kafka_mock_broker_set_down(mcluster, id);
        else if (!strcmp(verb, "up"))
                err = rd_kafka_mock_broker_set_up(mcluster, id);
        else {
                printf("ERR %s: unknown command\n", line);
                fflush(stdout);
                return;
        }
        if (err)
                printf("ERR %s: %s\n", line, rd_kafka_err2str(err));
        else
                printf("OK %s\n", line);
        fflush(stdout);
}

static void die(const char *what, const char *detail) {
        fprintf(stderr, "mock_cluster: %s%s%s\n", what, detail ? ": " : "",
                detail ? detail : "");
        exit(2);
}

int main(int argc, char **argv) {
        char errstr[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mcluster;
        struct sigaction sa;
        int brokers, i;
        char pending[1024];
        size_t have = 0;

        if (argc < 2) {
                fprintf(stderr,
                        "usage: %s <brokers> <topic:partitions>...\n", argv[0]);
                return 2;
        }
        brokers = atoi(argv[1]);
        if (brokers < 1 || brokers > 16)
                die("broker count must be 1..16", argv[1]);

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        /* A dummy producer handle: the mock cluster needs one for its bookkeeping. It is given no
         * bootstrap servers and never produces. */
        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "client.id", "mock_cluster", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "log_level", "3", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK)
                die("config", errstr);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk)
                die("rd_kafka_new", errstr);

        mcluster = rd_kafka_mock_cluster_new(rk, brokers);
        if (!mcluster)
                die("rd_kafka_mock_cluster_new failed", NULL);

        for (i = 2; i < argc; i++) {
                char name[256];
                const char *colon = strrchr(argv[i], ':');
                size_t len;
                int partitions;
                rd_kafka_resp_err_t err;

                if (!colon || colon == argv[i])
                        die("topic must be <name>:<partitions>", argv[i]);
                len = (size_t)(colon - argv[i]);
                if (len >= sizeof(name))
                        die("topic name too long", argv[i]);
                memcpy(name, argv[i], len);
                name[len]  = '\0';
                partitions = atoi(colon + 1);
                if (partitions < 1)
                        die("partition count must be >= 1", argv[i]);
                err = rd_kafka_mock_topic_create(mcluster, name, partitions, 1);
                if (err)
                        die("rd_kafka_mock_topic_create", rd_kafka_err2str(err));
        }

        printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
        fflush(stdout);

        while (!stopping) {
                struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
                int r = poll(&pfd, 1, 200);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (r > 0) {
                        char *nl;
                        ssize_t n;
                        if (have == sizeof(pending) - 1)
                                have = 0; /* an overlong line: dropped */
                        n = read(STDIN_FILENO, pending + have, sizeof(pending) - 1 - have);
                        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                                break; /* EOF: the parent closed stdin or exited */
                        if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL) && n <= 0)
                                break;
                        if (n < 0)
                                continue;
                        have += (size_t)n;
                        pending[have] = '\0';
                        while ((nl = strchr(pending, '\n'))) {
                                *nl = '\0';
                                command(mcluster, pending, brokers);
                                have -= (size_t)(nl + 1 - pending);
                                memmove(pending, nl + 1, have + 1);
                        }
                }
        }

        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        fprintf(stderr, "mock_cluster: stopped\n");
        return 0;
}
