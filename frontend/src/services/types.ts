// Types of both products' public API.
// CDC reconciliation: taken from the generated OpenAPI types (api-schema.d.ts), so a change of the
// API's document changes these types and the build shows every place that no longer fits.
// Streams (reconciliation-streams contract §4, §5, §7 and the streams platform contract): the same,
// from the document's schemas; the enum lists below must equal the document's enums exactly.
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
/** The streams envelope `ApiResponse<T>`. */
export interface ApiResponse<T> {
  success: boolean;
  message: string | null;
  data: T;
}
export type StreamsErrorBody = S["StreamsErrorBody"];
export type FieldError = S["StreamsProblem"];
export interface Page<T> {
  items: T[];
  page: number;
  pageSize: number;
  totalItems: number;
  totalPages: number;
}

// enums
export type StreamStatus = S["StreamStatus"];
export type RunStatus = S["RunStatus"];
export type StepRunStatus = S["StepRunStatus"];
export type InputType = S["InputType"];
export type TriggerType = S["TriggerType"];
export type FileFormat = S["FileFormat"];
export type FileOrigin = S["FileOrigin"];
export type FileStatus = S["FileStatus"];
export type Cardinality = S["Cardinality"];
export type Operator = S["Operator"];
export type SimilarityAlgorithm = S["Algorithm"];
export type Normalizer = S["Normalize"];
export type DataSourceType = S["DataSourceType"];
export type ArtifactType = S["ArtifactType"];
export type ExceptionSide = S["Side"];
export type ExceptionReason = S["ExceptionReason"];
export type ExceptionStatus = S["ExceptionStatus"];
export type LegacyStatus = S["LegacyStatus"];
export type OccurrenceStatus = S["OccurrenceView"]["status"];

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
export const ARTIFACT_TYPES = list<ArtifactType>()(["MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET", "SNAPSHOT_SOURCE", "SNAPSHOT_TARGET"]);
export const EXCEPTION_REASONS = list<ExceptionReason>()(["NO_CANDIDATE", "TOLERANCE_EXCEEDED", "DATE_OUT_OF_WINDOW", "BELOW_SIMILARITY", "AMBIGUOUS"]);
export const EXCEPTION_STATUSES = list<ExceptionStatus>()(["OPEN", "RESOLVED", "IGNORED"]);
export const EXCEPTION_SIDES = list<ExceptionSide>()(["SOURCE", "TARGET"]);
export const LEGACY_STATUSES = list<LegacyStatus>()(["PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELED"]);
export const DATA_SOURCE_TYPES = list<DataSourceType>()(["POSTGRES", "CDC_TABLE"]);
export const OCCURRENCE_STATUSES = list<OccurrenceStatus>()(["STARTED", "QUEUED", "SKIPPED_RUN_ACTIVE", "SKIPPED_NOT_ACTIVE", "FAILED"]);

// files (platform §2)
export type Column = S["ColumnOut"];
export type FileMeta = S["FileOut"];
export type UploadSession = S["UploadSessionOut"];

// rule sets (platform §3)
export type Condition = S["Condition"];
export type Pass = S["Pass"];
export type RuleSetInput = S["RuleSet"];
export type RuleSet = S["RuleSetOut"];
export type RuleSetSummary = S["RuleSetSummary"];

// data sources (platform §4)
export type DataSource = S["DataSourceView"];
export type DataSourceInput = S["DataSourceIn"];
export type DataSourceTest = S["DataSourceTestOut"];

// stream definitions (streams contract §4.1, §4.2)
export type StepInput = S["StepInput"];
export type StepConfig = S["StepConfig"];
export type StepDefinitionInput = S["StepIn"];
export type StepDefinition = S["StepOut"];
export type StreamInput = S["StreamIn"];
export type StreamSummary = S["StreamSummaryOut"];
export type StreamDefinition = S["StreamOut"];
export type ValidationIssue = S["ValidationItem"];
export type StreamValidation = S["ValidationOut"];

// stream runs, step runs, artifacts (streams contract §4.4 – §4.8)
export type RunMetrics = S["RunMetricsOut"];
export type RunCreated = S["RunCreatedOut"];
export type StreamRun = S["RunOut"];
export type StepRun = S["StepRunOut"];
export type Artifact = S["ArtifactOut"];
export type RunCanceled = S["chalicelib__api__stream_runs__CanceledOut"];

// exceptions (platform §8)
export interface ClosestCandidate {
  rowKey: string;
  pass: string;
  failedCondition: string;
  detail: string;
}
export type ReconException = S["ExceptionOut"];
export type ExceptionPatch = S["ExceptionPatch"];
export type ExceptionHistoryEntry = S["HistoryOut"];

// legacy reconciliations (platform §7)
export type LegacyReconciliation = S["ReconciliationOut"];
export type LegacyCreate = S["ReconciliationIn"];
export type LegacyCreated = S["ReconciliationCreatedOut"];
export type LegacyStatusView = S["StatusOut"];
