// The agent's signal is recorded as a note of its own kind before the host gets it (round 12b), and a
// note that cannot be recorded is a signal not sent (round 12c: notes are frames `n`, bounded).
import { describe, expect, it } from '@jest/globals';
import type { StreamFrame } from '../../../core/recording/index.ts';
import { FrameRecorder, MAX_NOTES } from './frames.ts';
import { signalNote, signalRecorded } from './session-channel.ts';

function rig(): { recorder: FrameRecorder; written: StreamFrame[]; sent: string[]; host: { signal(name: string): boolean } } {
  const written: StreamFrame[] = [];
  const sent: string[] = [];
  const recorder = new FrameRecorder({ write: (f) => { written.push(...f); return Promise.resolve(); }, startedAt: performance.now(), maxChars: 100, onFailure: () => undefined });
  return { recorder, written, sent, host: { signal: (name) => { sent.push(name); return true; } } };
}

describe('the agent\'s signal as a note', () => {
  it('is a note frame (kind n) written before the host is sent the signal', async () => {
    const { recorder, written, sent, host } = rig();
    await signalRecorded(recorder, host, 'KILL');
    expect(written).toEqual([{ t: expect.any(Number), ch: 'n', data: signalNote('KILL') }]);
    expect(sent).toEqual(['KILL']);
  });

  it('is recorded after the output\'s recording limit too', async () => {
    const { recorder, written, sent, host } = rig();
    recorder.add('o', 'x'.repeat(200));
    await signalRecorded(recorder, host, 'TERM');
    expect(written.filter((f) => f.ch === 'n').map((f) => f.data)).toContain(signalNote('TERM'));
    expect(sent).toEqual(['TERM']);
  });

  it(`past ${MAX_NOTES} notes the signal is neither recorded nor sent`, async () => {
    const { recorder, sent, host } = rig();
    for (let i = 0; i < MAX_NOTES; i++) recorder.note(`note ${i}`);
    await signalRecorded(recorder, host, 'INT');
    expect(sent).toEqual([]);
  });

  it.each(['kill', 'SIGKILL\n', '', 'K'.repeat(17), '__proto__', 'KILL]\r\n[guarita'])('a name that is not a signal name (%j) is neither recorded nor sent', async (name) => {
    const { recorder, written, sent, host } = rig();
    await signalRecorded(recorder, host, name);
    await recorder.flush();
    expect({ written, sent }).toEqual({ written: [], sent: [] });
  });
});
