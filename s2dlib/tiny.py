"""A tiny Qwen2-shaped chat model built locally for tests and the smoke profile: no download, seconds to build.

Random init from a config, a BPE tokenizer trained on locally generated task text, then a few hundred steps of
next-token training on chat-formatted (question -> 'The answer is ...'; judge prompt -> '[[C]]') pairs so its replies
parse as answers and verdicts.
It is for plumbing only: its accuracy means nothing. Importing this module makes model=tiny-random loadable
(`models.LOCAL_MODELS`); the modules that take a model name from a user import it.
"""
from __future__ import annotations

import random
from pathlib import Path

import torch

from .models import LOCAL_MODELS, cache_dir

NAME = "tiny-random"  # built locally from a config: random weights, tokenizer trained on local text
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


VERSION = 4  # part of the build folder's name: a change to the corpus or recipe must not reuse an older build


def _corpus(seed: int = 0, n: int = 400) -> list[list[dict]]:
    from .methods.cot import cot_prompt
    from .methods.rar import RAR_1STEP, RAR_REPHRASE
    from .tasks import get_task

    rar = (lambda t, q: RAR_1STEP.format(question=q), lambda t, q: RAR_REPHRASE.format(question=q))
    forms = {"last_letter": rar, "coin_flip": rar, "gsm8k": (cot_prompt,)}  # prompts asked besides the direct one
    chats = []
    for name, extra in forms.items():
        task = get_task(name)
        train, _ = task.make_splits(n, 0, seed)
        rng = random.Random(seed)
        for ex in train:
            question = ex.question if name != "gsm8k" else ex.question.rsplit(". ", 1)[-1]  # short: a fast build
            q = rng.choice([task.direct_prompt(question), *(f(task, question) for f in extra)])
            chats.append([{"role": "user", "content": q}, {"role": "assistant", "content": task.format_target(ex.answer)}])
    chats += _judge_chats(seed, n)
    random.Random(seed).shuffle(chats)
    return chats


def _judge_chats(seed: int, n: int) -> list[list[dict]]:
    """Judge prompts (direct and BSM's merge step) over last-letter answer pairs, replied with a tie: a verdict the
    smoke run's judges parse and that survives swapping the pair, so swap consistency keeps pairs to distil."""
    from .methods.bsm import MERGE
    from .tasks import get_task
    from .tasks.pairwise_judge import render_pair

    judge, letters, rng = get_task("pairwise_judge"), get_task("last_letter"), random.Random(seed + 1)
    chats = []
    for ex in letters.make_splits(n, 0, seed + 1)[0]:
        pair = render_pair(ex.question, letters.format_target(ex.answer), letters.format_target(ex.answer[::-1]))
        merge = MERGE.format(pair=pair, final_format=judge.final_format, evaluations="- correctness: both the same")
        q = rng.choice([judge.direct_prompt(pair), merge])
        chats.append([{"role": "user", "content": q}, {"role": "assistant", "content": judge.format_target("tie")}])
    return chats


def build_tiny_model(folder: Path, steps: int = 300, seed: int = 0) -> Path:
    """Build once into `folder` (reused when present; concurrent first uses build it once) and return it."""
    from .staging import build_folder

    if (folder / "config.json").exists():
        return folder
    return build_folder(folder, lambda tmp: _build(tmp, steps, seed))


def _build(out: Path, steps: int, seed: int) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    chats = _corpus(seed)
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    texts = [m["content"] for c in chats for m in c]
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIALS,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  bos_token=None, chat_template=CHAT_TEMPLATE)
    # head_dim 32: the smallest vLLM's CPU attention supports (its tests run this model too)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)
    model = Qwen2ForCausalLM(cfg)

    tok.padding_side = "right"
    rendered = sorted((tok.apply_chat_template(c, tokenize=False) for c in chats), key=len)
    batches = [rendered[i : i + 16] for i in range(0, len(rendered), 16)]  # similar lengths: little padding
    random.Random(seed).shuffle(batches)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        batch = tok(batches[step % len(batches)], return_tensors="pt", padding=True)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)


LOCAL_MODELS[NAME] = lambda: build_tiny_model(cache_dir() / "models" / f"{NAME}-v{VERSION}")
