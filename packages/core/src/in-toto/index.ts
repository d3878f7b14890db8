/**
 * in-toto Statement v1 (in-toto/attestation spec/v1): builder, validator, strict parser and
 * RFC 8785 serialization for DSSE payloads of type `application/vnd.in-toto+json`.
 */
export {
  IN_TOTO_PAYLOAD_TYPE,
  STATEMENT_V1_TYPE,
  buildStatement,
  parseStatement,
  serializeStatement,
  statementFromEnvelope,
  validateStatement,
  type ResourceDescriptor,
  type StatementInput,
  type StatementV1,
} from './statement.js';
