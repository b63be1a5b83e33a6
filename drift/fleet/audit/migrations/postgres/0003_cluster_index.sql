-- Most queries name a cluster and page by seq.
CREATE INDEX events_cluster_seq ON events (cluster, seq);
