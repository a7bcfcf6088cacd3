declare module 'asl-validator' {
  /** asl-validator 4 ships no declarations; these follow its sources (src/types.ts, src/validator.ts). */
  export interface StateMachineError {
    /** e.g. `MISSING_TRANSITION_TARGET`, `SCHEMA_VALIDATION_FAILED`. */
    'Error code': string;
    Message: string;
    schemaError?: { instancePath: string; schemaPath: string };
  }
  export interface ValidationOptions {
    /** Check the JSONPath expressions of InputPath, OutputPath, ResultPath and the like. */
    readonly checkPaths: boolean;
    /** Check that a Task's Resource is an ARN (or a `${...}` placeholder). */
    readonly checkArn: boolean;
  }
  /** Validates a state machine definition (it sets a default QueryLanguage on each state of the object given). */
  export default function validator(
    definition: object,
    opts?: ValidationOptions,
  ): { isValid: boolean; errors: StateMachineError[]; errorsText: (separator?: string) => string };
}
