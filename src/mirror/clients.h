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
/* The same consumer without a group context, for handles that only read
 * partitions (reader_run) and watermarks, never make group admin calls.
 * librdkafka 2.0.2 against Kafka 4.0: a handle with a group.id that read a
 * partition being written with rd_kafka_consume_start_queue() and stopped
 * before its end hung in rd_kafka_destroy() (rd_kafka_consumer_close()
 * waited forever, and with RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE its main
 * thread never exited): `kferry status` hung at exit whenever the mirror
 * had lag. */
rd_kafka_t *clients_reader(const mirror_config *c, const mc_cluster *cl, const char *purpose,
                           int eof);
/* The target producer; dr is the delivery-report callback. */
rd_kafka_t *clients_producer(const mirror_config *c,
                             void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                             void *opaque);
/* Gives a consumer configuration a group.id of kferry's own (never joined,
 * never committed to), so the handle has a group context.  librdkafka 2.0.2
 * dereferences that context when a group admin call (ListConsumerGroupOffsets)
 * is answered NOT_COORDINATOR, which real clusters do while a coordinator
 * loads or moves; without one the process dies with SIGSEGV. */
void clients_conf_group_context(rd_kafka_conf_t *conf, const char *purpose, const char *alias);
/* The flow-lock consumer on the target (flowlock.c): group kferry.lock.group,
 * session kferry.lock.session.timeout.ms, range assignor, no commits. */
rd_kafka_t *clients_lock_consumer(const mirror_config *c, const char *client_id,
                                  void (*rebalance)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                    rd_kafka_topic_partition_list_t *, void *),
                                  void *opaque);
/* Splits kferry.debug into librdkafka contexts and kferry components. */
void clients_setup_debug(const mirror_config *c);

#endif
