'use client';
/**
 * One operator on the canvas: category colour and icon, name, id, its input
 * handles (named when there are several: left/right, first/second,
 * keyed/broadcast) and output handles (main and side outputs), and a badge with
 * the number of validation errors. Memoized: it re-renders only when its own data
 * object changes, which the canvas keeps stable for unchanged nodes. The live
 * figures of a running job are a child that subscribes to its own node's overlay.
 */
import type { OperatorCategory } from '@sluice/graph-model';
import { Handle, Position, useUpdateNodeInternals, type Node, type NodeProps } from '@xyflow/react';
import { memo, useEffect } from 'react';
import type { Port } from '../model/ports';
import { CategoryIcon } from './CategoryIcon';
import { NodeLiveOverlay } from './LiveOverlay';

export interface OperatorNodeData extends Record<string, unknown> {
  readonly type: string;
  readonly title: string;
  readonly name: string | undefined;
  readonly category: OperatorCategory | 'unknown';
  readonly inputs: readonly Port[];
  readonly outputs: readonly Port[];
  readonly errors: number;
  readonly warnings: number;
  /** Problem messages, for the badge's tooltip. */
  readonly messages: string;
  readonly parallelism: number | undefined;
}

export type OperatorFlowNode = Node<OperatorNodeData, 'operator'>;

export const OperatorNode = memo(function OperatorNode({ id, data, selected }: NodeProps<OperatorFlowNode>) {
  const { inputs, outputs, errors, warnings } = data;
  const updateNodeInternals = useUpdateNodeInternals();
  const portsKey = `${inputs.map((p) => p.name).join(',')}|${outputs.map((p) => p.name).join(',')}`;
  useEffect(() => {
    updateNodeInternals(id);
  }, [id, portsKey, updateNodeInternals]);

  const rows = Math.max(inputs.length, outputs.length, 1);
  const namedInputs = inputs.length > 1 || inputs.some((p) => p.unknown);
  const namedOutputs = outputs.length > 1 || outputs.some((p) => p.name !== 'main');
  const label = data.name ?? data.title;
  return (
    <div
      className={`op-node cat-${data.category}${selected ? ' is-selected' : ''}${errors > 0 ? ' has-errors' : ''}`}
      data-testid={`node-${id}`}
      title={`${data.title}${data.name !== undefined ? ` “${data.name}”` : ''} (${data.type})`}
      aria-label={`${label} (${data.type}, id ${id})${errors > 0 ? `, ${errors} error${errors === 1 ? '' : 's'}` : ''}`}
    >
      <div className="op-node-header">
        <span className="op-node-icon">
          <CategoryIcon category={data.category} />
        </span>
        <span className="op-node-name" data-testid={`node-${id}-name`}>
          {label}
        </span>
        {errors > 0 ? (
          <span className="op-badge op-badge-error" data-testid={`node-${id}-errors`} title={data.messages} role="img" aria-label={`${errors} error${errors === 1 ? '' : 's'}`}>
            {errors}
          </span>
        ) : warnings > 0 ? (
          <span className="op-badge op-badge-warning" data-testid={`node-${id}-warnings`} title={data.messages} role="img" aria-label={`${warnings} warning${warnings === 1 ? '' : 's'}`}>
            {warnings}
          </span>
        ) : null}
      </div>
      <div className="op-node-sub">
        <span className="op-node-id" data-testid={`node-${id}-id`} title={`${data.title} · id ${id}`}>
          {id}
        </span>
        {data.parallelism !== undefined ? <span className="op-node-parallelism" title="Parallelism">×{data.parallelism}</span> : null}
      </div>
      <div className="op-node-ports">
        {Array.from({ length: rows }, (_, row) => {
          const input = inputs[row];
          const output = outputs[row];
          return (
            <div className="op-node-port-row" key={row}>
              {input ? (
                <>
                  <Handle
                    type="target"
                    position={Position.Left}
                    id={input.name}
                    className={`op-handle op-handle-in${input.keyed === 'required' ? ' is-keyed' : ''}${input.unknown ? ' is-unknown' : ''}`}
                    data-testid={`handle-${id}-in-${input.name}`}
                    aria-label={`Input ${input.name} of ${id}`}
                    title={input.keyed === 'required' ? `${input.title}: connect from a key-by` : input.title}
                  />
                  {namedInputs ? <span className="op-port-label op-port-in">{input.name}</span> : null}
                </>
              ) : null}
              <span className="op-port-spacer" />
              {output ? (
                <>
                  {namedOutputs ? <span className={`op-port-label op-port-out${output.name !== 'main' ? ' is-side' : ''}`}>{output.name}</span> : null}
                  <Handle
                    type="source"
                    position={Position.Right}
                    id={output.name}
                    className={`op-handle op-handle-out${output.name !== 'main' ? ' is-side' : ''}${output.unknown ? ' is-unknown' : ''}`}
                    data-testid={`handle-${id}-out-${output.name}`}
                    aria-label={`Output ${output.name} of ${id}`}
                    title={output.doc ?? output.name}
                  />
                </>
              ) : null}
            </div>
          );
        })}
      </div>
      <NodeLiveOverlay id={id} />
    </div>
  );
});
