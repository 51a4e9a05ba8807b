// A short free-text note the client reads on their appointment (Cancellation.explanation):
// optional, at most 500 characters, with the characters left and the API's own
// objections beside it.
export const EXPLANATION_MAX = 500;

export function NoteToClientField({
  id,
  label,
  value,
  onChange,
  problems = [],
  rows = 3,
}: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  problems?: string[];
  rows?: number;
}) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        rows={rows}
        maxLength={EXPLANATION_MAX}
        value={value}
        aria-describedby={`${id}-left`}
        aria-invalid={problems.length ? true : undefined}
        onChange={(e) => {
          onChange(e.target.value);
        }}
      />
      <p className="muted" id={`${id}-left`}>
        {EXPLANATION_MAX - value.length} characters left. Keep clinical details out: this is a short note, not a
        record.
      </p>
      {problems.length ? (
        <ul className="field-errors">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      ) : null}
    </>
  );
}
