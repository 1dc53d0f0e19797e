import type { components } from "./api-schema";

export interface PartInfo {
  label: number;
  name: string;
  color: [number, number, number];
}

export interface Config {
  mode: "annotate" | "review";
  user: string;
  projects: { name: string; paused: boolean; body_model: string; synthetic: boolean }[];
  parts: PartInfo[];
  charts: string[];
  urls: { next: string; draft: string; submit: string; leave: string; skip: string; review_next: string; review: string };
  autosave_ms: number;
  /** Why an annotator may skip a person (the server's list). */
  skip_reasons: { value: string; label: string }[];
}

// The API's answers: generated from the server's OpenAPI schema into api-schema.d.ts (`make api-types`; a test
// fails when the two drift apart), never copied by hand.
type Schemas = components["schemas"];
export type SampledPoint = Schemas["PointRef"];
export type Answer = Schemas["AnswerData"];
export type ProposedPoint = Schemas["ProposedPoint"];
/** A draft or a submission: stage 1 the part masks, stage 2 the answers. */
export type WorkData = Schemas["WorkData"];
/** A task to work on (``submission`` and ``overview`` only when it comes for review). */
export type Task = Schemas["TaskResponse"] &
  Partial<Pick<Schemas["ReviewTaskResponse"], "submission" | "overview" | "origins" | "resubmission">>;
/** The stage-2 reviewer's overview: every answer on the whole body, and which look wrong. */
export type Overview = Schemas["Overview"];

/** What an editor hands back to the shell. */
export interface Editor {
  start(): Promise<void>;
  /** Whether the work may be submitted; asks the annotator (warnings) or says what is missing. */
  check(): Promise<boolean>;
  /** The data to submit. */
  result(): unknown;
  setErrorHandler(handler: (error: unknown) => void): void;
  /** Save the draft now (before submitting or leaving). */
  flush(): Promise<void>;
  /** Review: the points the reviewer flagged to send back (stage 2), if any. */
  flaggedPoints?(): number[];
  destroy(): void;
}
