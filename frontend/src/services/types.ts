// Types of both products' public API.
// CDC reconciliation: taken from the generated OpenAPI types (api-schema.d.ts), so a change of the
// API's document changes these types and the build shows every place that no longer fits.
// Streams: the reconciliation-streams contract (§4, §5) and the streams platform contract, written
// out here; `contract-check.ts` asserts them against the OpenAPI document's schemas once the routes
// publish them.
import type { components } from "./api-schema";

type S = components["schemas"];

// ------------------------------------------------------------------ CDC reconciliation (snake_case)
export type Job = S["Job"];
export type JobDetail = S["JobDetail"];
export type JobsPage = S["JobsPage"];
export type Mismatch = S["Mismatch"];
export type MismatchesPage = S["MismatchesPage"];
export type SampleMismatch = S["SampleMismatch"];
export type TriggerRequest = S["TriggerRequest"];
export type TriggerResponse = S["TriggerResponse"];
export type ResolveRequest = S["ResolveRequest"];
export type ResolveResponse = S["ResolveResponse"];
export type Pagination = S["Pagination"];
export type JobStatus = S["JobStatus"];
export type JobType = S["JobType"];
export type ValidationStrategy = S["ValidationStrategy"];
export type Priority = S["Priority"];
export type MismatchType = S["MismatchType"];
export type ResolutionStatus = S["ResolutionStatus"];

/** CDC error body: `{"error": CODE, "message", details?: [{field, problem}], valid_tables?, retry_after?}` */
export interface CdcError {
  error: string;
  message: string;
  details?: { field: string; problem: string }[];
  valid_tables?: string[];
  retry_after?: number;
  request_id?: string;
}

// Every enum value, for badges, filters and pickers. `satisfies` keeps the lists complete and exact:
// a value added to or removed from the API's enum fails the type check here.
type Exact<T extends string, L extends readonly string[]> = [T] extends [L[number]] ? ([L[number]] extends [T] ? L : never) : never;
const list = <T extends string>() => <const L extends readonly T[]>(l: L & Exact<T, L>) => l;

export const JOB_STATUSES = list<JobStatus>()(["RUNNING", "COMPLETED", "FAILED"]);
export const JOB_TYPES = list<JobType>()(["HOURLY_SCHEDULED", "MANUAL_ONDEMAND"]);
export const STRATEGIES = list<ValidationStrategy>()(["ROW_COUNT", "CHECKSUM", "TIMESTAMP_RANGE", "SAMPLE"]);
export const PRIORITIES = list<Priority>()(["LOW", "NORMAL", "HIGH"]);
export const MISMATCH_TYPES = list<MismatchType>()(["MISSING_IN_POSTGRES", "MISSING_IN_CASSANDRA", "DATA_MISMATCH"]);
export const RESOLUTION_STATUSES = list<ResolutionStatus>()(["PENDING", "AUTO_RESOLVED", "MANUAL_RESOLVED", "IGNORED"]);

// ------------------------------------------------------------------ streams platform (camelCase)
export interface ApiResponse<T> {
  success: boolean;
  message: string | null;
  data: T;
}
export interface FieldError {
  field: string;
  code: string;
  message: string;
}
export interface StreamsErrorBody {
  success: false;
  message: string;
  data: null;
  errorCode: string;
  errors?: FieldError[];
  requestId?: string;
}
export interface Page<T> {
  items: T[];
  page: number;
  pageSize: number;
  totalItems: number;
  totalPages: number;
}

export type StreamStatus = "ACTIVE" | "PAUSED" | "ARCHIVED";
export type RunStatus = "PENDING" | "RUNNING" | "PARTIAL_FAILED" | "FAILED" | "COMPLETED" | "CANCELED";
export type StepRunStatus = "PENDING" | "IN_PROGRESS" | "RETRY_WAIT" | "FAILED" | "COMPLETED" | "SKIPPED" | "CANCELED";
export type InputType = "FILE" | "STEP_OUTPUT_UNMATCHED_SOURCE" | "STEP_OUTPUT_UNMATCHED_TARGET" | "DATA_SOURCE_SNAPSHOT";
export type TriggerType = "MANUAL" | "SCHEDULED" | "EVENT";
export type FileFormat = "CSV" | "PARQUET" | "JSONL";
export type FileOrigin = "UPLOAD" | "ARTIFACT" | "SNAPSHOT";
export type FileStatus = "PROCESSING" | "READY" | "INVALID";
export type Cardinality = "ONE_TO_ONE" | "ONE_TO_MANY" | "MANY_TO_ONE";
export type Operator = "EQUALS" | "AMOUNT_TOLERANCE" | "DATE_WINDOW" | "SIMILARITY";
export type SimilarityAlgorithm = "JARO_WINKLER" | "LEVENSHTEIN_RATIO" | "TOKEN_SET";
export type Normalizer = "TRIM" | "UPPER" | "LOWER" | "REMOVE_PUNCTUATION" | "DIGITS_ONLY" | "STRIP_LEADING_ZEROS";
export type DataSourceType = "POSTGRES" | "CDC_TABLE";
export type ArtifactType = "MATCHED" | "UNMATCHED_SOURCE" | "UNMATCHED_TARGET" | "SNAPSHOT_SOURCE" | "SNAPSHOT_TARGET";
export type ExceptionSide = "SOURCE" | "TARGET";
export type ExceptionReason = "NO_CANDIDATE" | "TOLERANCE_EXCEEDED" | "DATE_OUT_OF_WINDOW" | "BELOW_SIMILARITY" | "AMBIGUOUS";
export type ExceptionStatus = "OPEN" | "RESOLVED" | "IGNORED";
export type LegacyStatus = "PENDING" | "IN_PROGRESS" | "COMPLETED" | "FAILED" | "CANCELED";
export type StreamEvent = "FILE_UPLOADED" | "STREAM_RUN_COMPLETED";

export const STREAM_STATUSES = list<StreamStatus>()(["ACTIVE", "PAUSED", "ARCHIVED"]);
export const RUN_STATUSES = list<RunStatus>()(["PENDING", "RUNNING", "PARTIAL_FAILED", "FAILED", "COMPLETED", "CANCELED"]);
export const STEP_RUN_STATUSES = list<StepRunStatus>()(["PENDING", "IN_PROGRESS", "RETRY_WAIT", "FAILED", "COMPLETED", "SKIPPED", "CANCELED"]);
export const INPUT_TYPES = list<InputType>()(["FILE", "STEP_OUTPUT_UNMATCHED_SOURCE", "STEP_OUTPUT_UNMATCHED_TARGET", "DATA_SOURCE_SNAPSHOT"]);
export const TRIGGER_TYPES = list<TriggerType>()(["MANUAL", "SCHEDULED", "EVENT"]);
export const FILE_ORIGINS = list<FileOrigin>()(["UPLOAD", "ARTIFACT", "SNAPSHOT"]);
export const FILE_STATUSES = list<FileStatus>()(["PROCESSING", "READY", "INVALID"]);
export const CARDINALITIES = list<Cardinality>()(["ONE_TO_ONE", "ONE_TO_MANY", "MANY_TO_ONE"]);
export const OPERATORS = list<Operator>()(["EQUALS", "AMOUNT_TOLERANCE", "DATE_WINDOW", "SIMILARITY"]);
export const ALGORITHMS = list<SimilarityAlgorithm>()(["JARO_WINKLER", "LEVENSHTEIN_RATIO", "TOKEN_SET"]);
export const NORMALIZERS = list<Normalizer>()(["TRIM", "UPPER", "LOWER", "REMOVE_PUNCTUATION", "DIGITS_ONLY", "STRIP_LEADING_ZEROS"]);
export const EXCEPTION_REASONS = list<ExceptionReason>()(["NO_CANDIDATE", "TOLERANCE_EXCEEDED", "DATE_OUT_OF_WINDOW", "BELOW_SIMILARITY", "AMBIGUOUS"]);
export const EXCEPTION_STATUSES = list<ExceptionStatus>()(["OPEN", "RESOLVED", "IGNORED"]);
export const EXCEPTION_SIDES = list<ExceptionSide>()(["SOURCE", "TARGET"]);
export const LEGACY_STATUSES = list<LegacyStatus>()(["PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELED"]);

// files (§2)
export interface Column {
  name: string;
  type: string;
}
export interface FileMeta {
  id: number;
  filename: string;
  format: FileFormat | null;
  origin: FileOrigin;
  status: FileStatus;
  sizeBytes: number | null;
  rowCount: number | null;
  columns: Column[] | null;
  checksum: string | null;
  errorMessage: string | null;
  downloadUrl: string;
  createdAt: string;
}
export interface UploadSession {
  fileId: number;
  uploadUrl: string;
  expiresAt: string;
}

// rule sets (§3)
export interface Condition {
  source: string;
  target: string;
  operator: Operator;
  normalize?: Normalizer[];
  absolute?: number;
  percent?: number;
  daysBefore?: number;
  daysAfter?: number;
  algorithm?: SimilarityAlgorithm;
  threshold?: number;
  aggregate?: "SUM";
}
export interface Pass {
  name: string;
  cardinality: Cardinality;
  groupBy?: { source?: string[]; target?: string[] };
  conditions: Condition[];
}
export interface RuleSetInput {
  name: string;
  description?: string | null;
  sourceKey?: string | null;
  targetKey?: string | null;
  passes: Pass[];
}
export interface RuleSet extends RuleSetInput {
  id: number;
  version: number;
  createdAt?: string;
  updatedAt?: string;
}

// data sources (§4)
export interface DataSource {
  id: number;
  name: string;
  type: DataSourceType;
  config: Record<string, unknown>;
  createdAt?: string;
}

// stream definitions (streams contract §4.1, §4.2)
export interface StepInput {
  type: InputType;
  id: number;
}
export interface StepConfig {
  continueOnFailure: boolean;
  maxRetries: number;
}
export interface StepDefinition {
  id?: number;
  stepOrder: number;
  name: string;
  sourceInput: StepInput;
  targetInput: StepInput;
  ruleSetId: number;
  config: StepConfig;
}
export interface ScheduledTriggerConfig {
  cron: string;
  timezone?: string;
}
export interface EventTriggerConfig {
  event: StreamEvent;
  filenamePattern?: string;
  bind?: { stepOrder: number; input: "SOURCE" | "TARGET" };
  streamId?: number;
}
export type TriggerConfig = ScheduledTriggerConfig | EventTriggerConfig | Record<string, never> | null;
export interface StreamInput {
  name: string;
  description?: string | null;
  domain?: string | null;
  triggerType: TriggerType;
  triggerConfig?: TriggerConfig;
  steps: StepDefinition[];
}
export interface StreamSummary {
  id: number;
  name: string;
  status: StreamStatus;
  domain: string | null;
  stepCount?: number;
  triggerType?: TriggerType;
  createdAt: string;
  updatedAt: string;
}
export interface StreamDefinition extends StreamSummary {
  description: string | null;
  triggerType: TriggerType;
  triggerConfig: TriggerConfig;
  steps: StepDefinition[];
  nextRunAt?: string | null;
}
export interface ValidationIssue {
  field?: string;
  code: string;
  message: string;
}
export interface StreamValidation {
  valid: boolean;
  errors: ValidationIssue[];
  warnings: ValidationIssue[];
}

// stream runs, step runs, artifacts (§4.4 – §4.8)
export interface RunMetrics {
  totalSteps: number;
  completedSteps: number;
  failedSteps: number;
  matchedRecords: number;
  exceptionCount: number;
}
export interface RunCreated {
  runId: number;
  streamId: number;
  status: RunStatus;
  currentStepOrder: number;
  startedAt: string | null;
  createdAt: string;
}
export interface StreamRun {
  id: number;
  streamId: number;
  status: RunStatus;
  currentStepOrder: number;
  metrics: RunMetrics | null;
  triggerType?: TriggerType;
  triggerMetadata?: Record<string, unknown> | null;
  errorMessage: string | null;
  startedAt: string | null;
  completedAt: string | null;
  createdAt: string;
  updatedAt: string;
}
export interface StepRun {
  id: number;
  runId: number;
  stepId: number;
  stepOrder: number;
  status: StepRunStatus;
  attemptNo: number;
  progress: number;
  reconciliationId: number | null;
  errorMessage?: string | null;
  nextAttemptAt?: string | null;
  startedAt: string | null;
  completedAt: string | null;
}
export interface Artifact {
  id: number;
  artifactType: ArtifactType;
  fileId: number;
  filename: string;
  rowCount: number | null;
  checksum: string | null;
  downloadUrl: string;
  createdAt: string;
}
export interface RunCanceled {
  runId: number;
  status: RunStatus;
  completedAt: string | null;
}

// exceptions (§8)
export interface ClosestCandidate {
  rowKey: string;
  pass: string;
  failedCondition: string;
  detail: string;
}
export interface ReconException {
  id: number;
  reconciliationId: number;
  side: ExceptionSide;
  rowKey: string;
  rowData: Record<string, unknown>;
  reason: ExceptionReason;
  closestCandidate: ClosestCandidate | null;
  status: ExceptionStatus;
  assignee: string | null;
  note: string | null;
  streamId?: number | null;
  runId?: number | null;
  createdAt: string;
  updatedAt: string;
}
export interface ExceptionPatch {
  status?: ExceptionStatus;
  note?: string | null;
  assignee?: string | null;
}
export interface ExceptionHistoryEntry {
  id?: number;
  changedBy?: string;
  changedAt?: string;
  status?: ExceptionStatus | null;
  assignee?: string | null;
  note?: string | null;
  [key: string]: unknown;
}

// legacy reconciliations (§7)
export interface LegacyReconciliation {
  id: number;
  name: string;
  description?: string | null;
  status: LegacyStatus;
  sourceFileId: number;
  targetFileId: number;
  ruleSetId: number;
  totalSourceRecords?: number | null;
  totalTargetRecords?: number | null;
  matchedRecords?: number | null;
  unmatchedSourceRecords?: number | null;
  unmatchedTargetRecords?: number | null;
  exceptionCount?: number | null;
  matchRate?: number | null;
  errorMessage?: string | null;
  startedAt?: string | null;
  completedAt?: string | null;
  createdAt: string;
}
export interface LegacyStatusView {
  id: number;
  status: LegacyStatus;
  progress: number;
}
