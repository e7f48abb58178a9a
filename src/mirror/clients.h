/*
 * clients.h - creates the librdkafka handles kferry uses, from the config.
 *
 * Source handles are read-only consumers (legacy per-partition API, no
 * group, no commits); the target gets one idempotent producer and a reader.
 * Invariant: kferry's safety settings are applied after user properties.
 */
#ifndef KF_MIRROR_CLIENTS_H
#define KF_MIRROR_CLIENTS_H

#include "mirror/config.h"

#include <librdkafka/rdkafka.h>

/* A consumer on cluster cl; eof=1 delivers partition-EOF events. */
rd_kafka_t *clients_consumer(const mirror_config *c, const mc_cluster *cl, const char *purpose,
                             int eof);
/* The target producer; dr is the delivery-report callback. */
rd_kafka_t *clients_producer(const mirror_config *c,
                             void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                             void *opaque);
/* The producer of the flow's holder (replicate.c): as clients_producer, and
 * with kferry.transactions.enabled the flow's transactional.id.  No other
 * handle may carry that id: its InitProducerId would fence the holder. */
rd_kafka_t *clients_flow_producer(const mirror_config *c,
                                  void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                                  void *opaque);
/* The flow-lock consumer on the target (flowlock.c): group kferry.lock.group,
 * session kferry.lock.session.timeout.ms, range assignor, no commits. */
rd_kafka_t *clients_lock_consumer(const mirror_config *c, const char *client_id,
                                  void (*rebalance)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                    rd_kafka_topic_partition_list_t *, void *),
                                  void *opaque);
/* Connectivity probe: a Metadata request within timeout_ms.  0 when the
 * cluster answered; -1 with err = "cluster '<alias>' (<bootstrap>): cannot
 * connect: <librdkafka's reason, e.g. Connection refused>", so every command
 * names the cluster, its address and the cause before anything internal. */
int clients_probe(rd_kafka_t *rk, const mc_cluster *cl, int timeout_ms, char *err, size_t errlen);
/* Probes the source (if src) and the target (if tgt); on failure logs the
 * reason (and copies it to err when err is not NULL) and returns -1. */
int clients_probe_both(const mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt, char *err,
                       size_t errlen);
#define CLIENTS_PROBE_TIMEOUT_MS 10000

/* Splits kferry.debug into librdkafka contexts and kferry components. */
void clients_setup_debug(const mirror_config *c);

#endif
