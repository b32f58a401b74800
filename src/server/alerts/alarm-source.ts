// Which alarm data source a store gets: the set-based query when its time series are in its SQL
// database (SqlStore), GetInstanceMetricData per instance when they are elsewhere (VictoriaMetrics).
import { SqlStore } from '../store/sql-store.js';
import type { Store } from '../store/store.js';
import { bulkSource, type BulkSource } from './bulk-source.js';
import { instanceSource } from './instance-source.js';

export function alarmSource(store: Store): BulkSource {
  return store instanceof SqlStore ? bulkSource(store) : instanceSource(store);
}
