/**
 * google.api.http path templates (see proto/google/api/http.proto):
 *
 *   Template = "/" Segments [ Verb ] ;   Segments = Segment { "/" Segment } ;
 *   Segment  = "*" | "**" | LITERAL | Variable ;   Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *   Verb     = ":" LITERAL ;
 *
 * A template compiles to one anchored regular expression over the raw (still percent-encoded) path,
 * so `**` may stand anywhere and backtracking does the matching. A `:verb` is part of a template's
 * expression, so it is only ever peeled off a path by a route that has that verb; elsewhere a colon
 * stays part of the last segment (grpc-gateway's rule).
 */

export interface PathTemplate {
  /** As written in the annotation. */
  readonly source: string;
  readonly pattern: RegExp;
  /** Field paths (`name`, `a.b`) of the variables, in capture-group order. */
  readonly variables: readonly string[];
  readonly verb: string | undefined;
  /** Literal characters: more literal text means a more specific template. */
  readonly literalLength: number;
}

/** Throws on a template that does not follow the grammar (a bug in a proto, reported at start). */
export function parseTemplate(source: string): PathTemplate {
  if (!source.startsWith('/')) throw new Error(`path template ${source} must start with "/"`);
  const body = source.slice(1);
  let depth = 0;
  let verbAt = -1;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ':' && depth === 0) {
      verbAt = i;
      break;
    }
  }
  const path = verbAt < 0 ? body : body.slice(0, verbAt);
  const verb = verbAt < 0 ? undefined : body.slice(verbAt + 1);
  if (verb !== undefined && !/^[A-Za-z0-9_.~-]+$/.test(verb)) throw new Error(`path template ${source}: bad verb "${verb}"`);
  const variables: string[] = [];
  let literalLength = 0;
  const segments = splitTopLevel(path, source).map((segment) => {
    if (segment.startsWith('{')) {
      if (!segment.endsWith('}')) throw new Error(`path template ${source}: unclosed variable ${segment}`);
      const inner = segment.slice(1, -1);
      const eq = inner.indexOf('=');
      const field = eq < 0 ? inner : inner.slice(0, eq);
      if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(field)) throw new Error(`path template ${source}: bad field path "${field}"`);
      variables.push(field);
      const nested = eq < 0 ? ['*'] : inner.slice(eq + 1).split('/');
      return `(${nested.map((part) => {
        const [regex, literal] = plainSegment(part, source);
        literalLength += literal;
        return regex;
      }).join('/')})`;
    }
    const [regex, literal] = plainSegment(segment, source);
    literalLength += literal;
    return regex;
  });
  const pattern = new RegExp(`^/${segments.join('/')}${verb === undefined ? '' : `:${escape(verb)}`}$`);
  return { source, pattern, variables, verb, literalLength: literalLength + (verb?.length ?? 0) };
}

export interface TemplateMatch {
  /** Field path to the percent-decoded value. */
  bindings: Map<string, string>;
}

/** The bindings of `rawPath` (as received, percent-encoded), or undefined when it does not match. */
export function matchTemplate(template: PathTemplate, rawPath: string): TemplateMatch | undefined {
  const match = template.pattern.exec(rawPath);
  if (match === null) return undefined;
  const bindings = new Map<string, string>();
  template.variables.forEach((field, index) => bindings.set(field, match[index + 1]!));
  return { bindings };
}

function splitTopLevel(path: string, source: string): string[] {
  const segments: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === '/' && depth === 0) {
      segments.push(path.slice(start, i));
      start = i + 1;
    }
    if (depth < 0 || depth > 1) throw new Error(`path template ${source}: unbalanced braces`);
  }
  segments.push(path.slice(start));
  if (segments.some((segment) => segment === '')) throw new Error(`path template ${source}: empty segment`);
  return segments;
}

/** `*` one segment, `**` any number (at least one), else a literal. */
function plainSegment(segment: string, source: string): [regex: string, literalLength: number] {
  if (segment === '*') return ['[^/]+', 0];
  if (segment === '**') return ['.+', 0];
  if (!/^[A-Za-z0-9_.~%-]+$/.test(segment)) throw new Error(`path template ${source}: bad literal "${segment}"`);
  return [escape(segment), segment.length];
}

function escape(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
