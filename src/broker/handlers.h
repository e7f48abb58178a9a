/*
 * handlers.h - every request handler, grouped by the file that holds it.
 * See broker.h for the handler contract.
 */
#ifndef KB_HANDLERS_H
#define KB_HANDLERS_H

#include "broker/broker.h"

/* dispatch.c */
int kb_h_api_versions(kb_broker *b, kb_req *r, kf_buf *out);
/* h_metadata.c */
int kb_h_metadata(kb_broker *b, kb_req *r, kf_buf *out);
/* h_produce.c */
int kb_h_produce(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_init_producer_id(kb_broker *b, kb_req *r, kf_buf *out);
/* h_fetch.c */
int kb_h_fetch(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_list_offsets(kb_broker *b, kb_req *r, kf_buf *out);
/* h_admin.c */
int kb_h_create_topics(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_delete_topics(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_create_partitions(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_delete_records(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_describe_configs(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_alter_configs(kb_broker *b, kb_req *r, kf_buf *out);
/* h_cluster.c */
int kb_h_describe_cluster(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_describe_log_dirs(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_incremental_alter_configs(kb_broker *b, kb_req *r, kf_buf *out);
/* h_group.c */
int kb_h_find_coordinator(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_join_group(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_sync_group(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_heartbeat(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_leave_group(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_offset_commit(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_offset_fetch(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_list_groups(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_describe_groups(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_delete_groups(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_offset_delete(kb_broker *b, kb_req *r, kf_buf *out);

/* h_txn.c */
int kb_h_add_partitions_to_txn(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_add_offsets_to_txn(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_end_txn(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_txn_offset_commit(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_describe_transactions(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_list_transactions(kb_broker *b, kb_req *r, kf_buf *out);

/* Auto-creates a topic if allowed (Metadata, Produce). Returns the topic
 * or NULL (and *err set to a Kafka error). In h_metadata.c. */
struct kb_topic *kb_topic_autocreate(kb_broker *b, const char *name, size_t len, int *err);

/* h_acl.c */
int kb_h_describe_acls(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_create_acls(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_delete_acls(kb_broker *b, kb_req *r, kf_buf *out);

/* h_sasl.c */
int kb_h_sasl_handshake(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_sasl_authenticate(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_describe_user_scram_credentials(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_alter_user_scram_credentials(kb_broker *b, kb_req *r, kf_buf *out);
int kb_h_describe_client_quotas(kb_broker *b, kb_req *r, kf_buf *out);

#endif
