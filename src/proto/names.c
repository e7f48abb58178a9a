/*
 * names.c - human-readable names of API keys and error codes, for logs.
 */
#include "proto/proto.h"

const char *kf_api_name(int k) {
    switch (k) {
    case KF_API_PRODUCE: return "Produce";
    case KF_API_FETCH: return "Fetch";
    case KF_API_LIST_OFFSETS: return "ListOffsets";
    case KF_API_METADATA: return "Metadata";
    case KF_API_OFFSET_COMMIT: return "OffsetCommit";
    case KF_API_OFFSET_FETCH: return "OffsetFetch";
    case KF_API_FIND_COORDINATOR: return "FindCoordinator";
    case KF_API_JOIN_GROUP: return "JoinGroup";
    case KF_API_HEARTBEAT: return "Heartbeat";
    case KF_API_LEAVE_GROUP: return "LeaveGroup";
    case KF_API_SYNC_GROUP: return "SyncGroup";
    case KF_API_DESCRIBE_GROUPS: return "DescribeGroups";
    case KF_API_LIST_GROUPS: return "ListGroups";
    case KF_API_SASL_HANDSHAKE: return "SaslHandshake";
    case KF_API_API_VERSIONS: return "ApiVersions";
    case KF_API_CREATE_TOPICS: return "CreateTopics";
    case KF_API_DELETE_TOPICS: return "DeleteTopics";
    case KF_API_DELETE_RECORDS: return "DeleteRecords";
    case KF_API_INIT_PRODUCER_ID: return "InitProducerId";
    case KF_API_ADD_PARTITIONS_TO_TXN: return "AddPartitionsToTxn";
    case KF_API_ADD_OFFSETS_TO_TXN: return "AddOffsetsToTxn";
    case KF_API_END_TXN: return "EndTxn";
    case KF_API_TXN_OFFSET_COMMIT: return "TxnOffsetCommit";
    case KF_API_DESCRIBE_ACLS: return "DescribeAcls";
    case KF_API_CREATE_ACLS: return "CreateAcls";
    case KF_API_DELETE_ACLS: return "DeleteAcls";
    case KF_API_DESCRIBE_CONFIGS: return "DescribeConfigs";
    case KF_API_ALTER_CONFIGS: return "AlterConfigs";
    case KF_API_SASL_AUTHENTICATE: return "SaslAuthenticate";
    case KF_API_CREATE_PARTITIONS: return "CreatePartitions";
    case KF_API_DELETE_GROUPS: return "DeleteGroups";
    case KF_API_OFFSET_DELETE: return "OffsetDelete";
    case KF_API_DESCRIBE_LOG_DIRS: return "DescribeLogDirs";
    case KF_API_INCREMENTAL_ALTER_CONFIGS: return "IncrementalAlterConfigs";
    case KF_API_DESCRIBE_CLIENT_QUOTAS: return "DescribeClientQuotas";
    case KF_API_DESCRIBE_USER_SCRAM_CREDENTIALS: return "DescribeUserScramCredentials";
    case KF_API_ALTER_USER_SCRAM_CREDENTIALS: return "AlterUserScramCredentials";
    case KF_API_DESCRIBE_CLUSTER: return "DescribeCluster";
    case KF_API_DESCRIBE_TRANSACTIONS: return "DescribeTransactions";
    case KF_API_LIST_TRANSACTIONS: return "ListTransactions";
    default: return "Unknown";
    }
}

const char *kf_err_name(int e) {
    switch (e) {
    case KF_ERR_UNKNOWN_SERVER_ERROR: return "UNKNOWN_SERVER_ERROR";
    case KF_ERR_NONE: return "NONE";
    case KF_ERR_OFFSET_OUT_OF_RANGE: return "OFFSET_OUT_OF_RANGE";
    case KF_ERR_CORRUPT_MESSAGE: return "CORRUPT_MESSAGE";
    case KF_ERR_UNKNOWN_TOPIC_OR_PARTITION: return "UNKNOWN_TOPIC_OR_PARTITION";
    case KF_ERR_MESSAGE_TOO_LARGE: return "MESSAGE_TOO_LARGE";
    case KF_ERR_NOT_COORDINATOR: return "NOT_COORDINATOR";
    case KF_ERR_INVALID_TOPIC_EXCEPTION: return "INVALID_TOPIC_EXCEPTION";
    case KF_ERR_ILLEGAL_GENERATION: return "ILLEGAL_GENERATION";
    case KF_ERR_UNKNOWN_MEMBER_ID: return "UNKNOWN_MEMBER_ID";
    case KF_ERR_REBALANCE_IN_PROGRESS: return "REBALANCE_IN_PROGRESS";
    case KF_ERR_UNSUPPORTED_VERSION: return "UNSUPPORTED_VERSION";
    case KF_ERR_TOPIC_ALREADY_EXISTS: return "TOPIC_ALREADY_EXISTS";
    case KF_ERR_INVALID_PARTITIONS: return "INVALID_PARTITIONS";
    case KF_ERR_INVALID_REPLICATION_FACTOR: return "INVALID_REPLICATION_FACTOR";
    case KF_ERR_INVALID_CONFIG: return "INVALID_CONFIG";
    case KF_ERR_INVALID_REQUEST: return "INVALID_REQUEST";
    case KF_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER: return "OUT_OF_ORDER_SEQUENCE_NUMBER";
    case KF_ERR_INVALID_PRODUCER_EPOCH: return "INVALID_PRODUCER_EPOCH";
    case KF_ERR_KAFKA_STORAGE_ERROR: return "KAFKA_STORAGE_ERROR";
    case KF_ERR_NON_EMPTY_GROUP: return "NON_EMPTY_GROUP";
    case KF_ERR_GROUP_ID_NOT_FOUND: return "GROUP_ID_NOT_FOUND";
    case KF_ERR_INVALID_RECORD: return "INVALID_RECORD";
    case KF_ERR_MEMBER_ID_REQUIRED: return "MEMBER_ID_REQUIRED";
    case KF_ERR_INVALID_TXN_STATE: return "INVALID_TXN_STATE";
    case KF_ERR_INVALID_PRODUCER_ID_MAPPING: return "INVALID_PRODUCER_ID_MAPPING";
    case KF_ERR_INVALID_TRANSACTION_TIMEOUT: return "INVALID_TRANSACTION_TIMEOUT";
    case KF_ERR_CONCURRENT_TRANSACTIONS: return "CONCURRENT_TRANSACTIONS";
    case KF_ERR_PRODUCER_FENCED: return "PRODUCER_FENCED";
    case KF_ERR_UNSTABLE_OFFSET_COMMIT: return "UNSTABLE_OFFSET_COMMIT";
    case KF_ERR_UNSUPPORTED_SASL_MECHANISM: return "UNSUPPORTED_SASL_MECHANISM";
    case KF_ERR_ILLEGAL_SASL_STATE: return "ILLEGAL_SASL_STATE";
    case KF_ERR_SASL_AUTHENTICATION_FAILED: return "SASL_AUTHENTICATION_FAILED";
    case KF_ERR_RESOURCE_NOT_FOUND: return "RESOURCE_NOT_FOUND";
    case KF_ERR_DUPLICATE_RESOURCE: return "DUPLICATE_RESOURCE";
    case KF_ERR_UNACCEPTABLE_CREDENTIAL: return "UNACCEPTABLE_CREDENTIAL";
    default: return "ERROR";
    }
}
